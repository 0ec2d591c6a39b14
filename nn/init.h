// -----------------------------------------------------------------------------
// File: init.h
// -----------------------------------------------------------------------------
//
// Parameter initializers, with the formulas of torch.nn.init. Fans come from
// the weight's shape, [out, in, ...]: fan_in = in x receptive field, fan_out =
// out x receptive field. Each initializer takes a gain; the gain that suits
// an activation comes from its op row (`OpDef::gain`), and
// `RecommendedInitializer` applies the article's advice (claims C18-C20):
// Xavier/Glorot in front of sigmoid and tanh, He/Kaiming in front of the ReLU
// family.
//
// Example:
//
//   actgrad::Generator gen(0);
//   actgrad::Tensor w = actgrad::Zeros({64, 30});
//   actgrad::nn::Initializer::HeNormal(std::sqrt(2.0)).Fill(w, gen);
//   std::cout << actgrad::nn::RecommendedInitializer(actgrad::ops::kTanh).ToString();
//   // xavier_uniform(gain=1.667)

#ifndef ACTGRAD_NN_INIT_H_
#define ACTGRAD_NN_INIT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/generator.h"
#include "graph/op_def.h"
#include "graph/tensor.h"

namespace actgrad::nn {

enum class FanMode { kFanIn, kFanOut };

class Initializer {
 public:
  enum class Kind {
    kZeros,
    kConstant,
    kUniform,
    kNormal,
    kXavierUniform,
    kXavierNormal,
    kHeUniform,
    kHeNormal,
    kLeCunNormal,
  };

  static Initializer Zeros();
  static Initializer Constant(double value);
  // U(low, high), scaled by gain.
  static Initializer Uniform(double low, double high, double gain = 1.0);
  // N(mean, stddev^2), the deviation scaled by gain.
  static Initializer Normal(double mean, double stddev, double gain = 1.0);
  // U(-a, a), a = gain sqrt(6 / (fan_in + fan_out)).
  static Initializer XavierUniform(double gain = 1.0);
  // N(0, s^2), s = gain sqrt(2 / (fan_in + fan_out)).
  static Initializer XavierNormal(double gain = 1.0);
  // U(-b, b), b = gain sqrt(3 / fan).
  static Initializer HeUniform(double gain = 1.0, FanMode mode = FanMode::kFanIn);
  // N(0, s^2), s = gain / sqrt(fan).
  static Initializer HeNormal(double gain = 1.0, FanMode mode = FanMode::kFanIn);
  // N(0, s^2), s = gain / sqrt(fan_in).
  static Initializer LeCunNormal(double gain = 1.0);

  // By name: zeros, constant:V, uniform:LOW:HIGH, normal:MEAN:STD,
  // xavier_uniform, xavier_normal, he_uniform, he_normal, lecun_normal; the
  // last five take `gain`. Returns kInvalidArgument naming the choices.
  static absl::StatusOr<Initializer> Parse(absl::string_view spec, double gain = 1.0);
  // The inverse of ToString(), for saved models that record how their
  // weights were first drawn: "he_normal(gain=1.414, fan_in)".
  static absl::StatusOr<Initializer> FromString(absl::string_view text);

  // Overwrites every value of `t`, whose shape gives the fans (a rank-1
  // tensor's fan is its extent).
  void Fill(Tensor& t, Generator& gen) const;

  // The standard deviation of the values Fill() draws for `shape`.
  double StdDev(const Shape& shape) const;
  // The mean of the values Fill() draws.
  double Mean() const;

  Kind kind() const { return kind_; }
  double gain() const { return gain_; }
  // "he_normal(gain=1.414, fan_in)".
  std::string ToString() const;

 private:
  Kind kind_ = Kind::kZeros;
  double gain_ = 1.0;
  double a_ = 0.0;  // constant value, uniform low, normal mean
  double b_ = 0.0;  // uniform high, normal deviation
  FanMode mode_ = FanMode::kFanIn;
};

// The gain an activation's row recommends: 1 for a built-in row that names
// none, the Monte Carlo estimate of ops/activation_gain.h (EstimatedGain) for an
// activation defined from formulas at run time (user code, plugins).
double GainOf(const OpDef& activation, const Attrs& attrs = {});

// The weight initializer for a layer followed by `activation`: Xavier uniform
// for the rows that recommend Xavier (sigmoid, tanh, identity), He normal
// (fan_in) for the ReLU family, each with the row's gain.
Initializer RecommendedInitializer(const OpDef& activation, const Attrs& attrs = {});

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_INIT_H_
