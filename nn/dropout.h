// -----------------------------------------------------------------------------
// File: dropout.h
// -----------------------------------------------------------------------------
//
// Dropout and Flatten layers. Dropout zeroes each element with probability
// p in training mode (scaling the rest by 1/(1-p)) and passes its input
// through in evaluation mode. Each training call draws a fresh seed from the
// layer's own generator, which the constructor seeds from the one it is
// given: the same seeds give the same masks, on any thread count.
//
// Example:
//
//   actgrad::Generator gen(0);
//   actgrad::nn::Dropout drop(0.25, gen);
//   actgrad::Tensor y = drop(x);  // training: a quarter of x zeroed
//   actgrad::nn::Flatten flatten;  // [N, C, H, W] -> [N, C*H*W]

#ifndef ACTGRAD_NN_DROPOUT_H_
#define ACTGRAD_NN_DROPOUT_H_

#include <source_location>
#include <string>

#include "graph/generator.h"
#include "nn/module.h"

namespace actgrad::nn {

class Dropout : public Module {
 public:
  // Throws `Error` for p outside [0, 1].
  Dropout(double p, Generator& gen, std::source_location location = std::source_location::current());
  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return "dropout"; }
  ModuleConfig Config() const override;
  double p() const { return p_; }

 private:
  double p_;
  Generator seeds_;
};

class Flatten : public Module {
 public:
  // Dimensions start..end (inclusive; negative counts from the back).
  explicit Flatten(int64_t start = 1, int64_t end = -1) : start_(start), end_(end) {}
  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return "flatten"; }
  ModuleConfig Config() const override;
  int64_t start() const { return start_; }
  int64_t end() const { return end_; }

 private:
  int64_t start_, end_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_DROPOUT_H_
