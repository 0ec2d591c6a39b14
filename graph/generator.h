// -----------------------------------------------------------------------------
// File: generator.h
// -----------------------------------------------------------------------------
//
// `Generator` is the explicit, seedable source of randomness for factories and
// initializers. The same seed gives the same values on every platform: the
// engine is std::mt19937_64 and the distributions are written out here rather
// than taken from the standard library, whose algorithms are unspecified.
//
// Example:
//
//   actgrad::Generator gen(7);
//   actgrad::Tensor w = actgrad::Uniform({64, 30}, -0.1, 0.1, gen);
//   double u = gen.NextUniform();  // in [0, 1)

#ifndef ACTGRAD_GRAPH_GENERATOR_H_
#define ACTGRAD_GRAPH_GENERATOR_H_

#include <cstdint>
#include <random>
#include <string>

namespace actgrad {

class Generator {
 public:
  explicit Generator(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1), 53 random bits.
  double NextUniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Standard normal (Box-Muller; the second value of each pair is kept).
  double NextNormal();
  // Uniform integer in [0, n).
  uint64_t NextBelow(uint64_t n);

  std::mt19937_64& engine() { return engine_; }

  // The complete state as text, and back: a checkpoint resumes the same
  // sequence. Restore returns false (leaving the state as it was) for text
  // that is not a state.
  std::string SaveState() const;
  bool RestoreState(const std::string& text);

 private:
  std::mt19937_64 engine_;
  double spare_normal_ = 0.0;
  bool has_spare_normal_ = false;
};

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_GENERATOR_H_
