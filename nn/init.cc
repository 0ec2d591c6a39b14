#include "nn/init.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "graph/factories.h"
#include "ops/activation_gain.h"

namespace actgrad::nn {

namespace {

struct Fans {
  double in = 1;
  double out = 1;
};

Fans FansOf(const Shape& shape) {
  if (shape.rank() == 0) return {};
  if (shape.rank() == 1) return {double(shape[0]), double(shape[0])};
  double receptive = 1;
  for (int d = 2; d < shape.rank(); ++d) receptive *= double(shape[d]);
  return {double(shape[1]) * receptive, double(shape[0]) * receptive};
}

}  // namespace

Initializer Initializer::Zeros() { return Initializer(); }

Initializer Initializer::Constant(double value) {
  Initializer i;
  i.kind_ = Kind::kConstant;
  i.a_ = value;
  return i;
}

Initializer Initializer::Uniform(double low, double high, double gain) {
  Initializer i;
  i.kind_ = Kind::kUniform;
  i.a_ = low;
  i.b_ = high;
  i.gain_ = gain;
  return i;
}

Initializer Initializer::Normal(double mean, double stddev, double gain) {
  Initializer i;
  i.kind_ = Kind::kNormal;
  i.a_ = mean;
  i.b_ = stddev;
  i.gain_ = gain;
  return i;
}

Initializer Initializer::XavierUniform(double gain) {
  Initializer i;
  i.kind_ = Kind::kXavierUniform;
  i.gain_ = gain;
  return i;
}

Initializer Initializer::XavierNormal(double gain) {
  Initializer i;
  i.kind_ = Kind::kXavierNormal;
  i.gain_ = gain;
  return i;
}

Initializer Initializer::HeUniform(double gain, FanMode mode) {
  Initializer i;
  i.kind_ = Kind::kHeUniform;
  i.gain_ = gain;
  i.mode_ = mode;
  return i;
}

Initializer Initializer::HeNormal(double gain, FanMode mode) {
  Initializer i;
  i.kind_ = Kind::kHeNormal;
  i.gain_ = gain;
  i.mode_ = mode;
  return i;
}

Initializer Initializer::LeCunNormal(double gain) {
  Initializer i;
  i.kind_ = Kind::kLeCunNormal;
  i.gain_ = gain;
  return i;
}

absl::StatusOr<Initializer> Initializer::Parse(absl::string_view spec, double gain) {
  const std::vector<absl::string_view> parts = absl::StrSplit(spec, ':');
  std::vector<double> numbers;
  for (size_t i = 1; i < parts.size(); ++i) {
    double v = 0;
    if (!absl::SimpleAtod(parts[i], &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("initializer \"", spec, "\": \"", parts[i], "\" is not a number"));
    }
    numbers.push_back(v);
  }
  const absl::string_view name = parts[0];
  auto arity = [&](size_t n) { return numbers.size() == n; };
  if (name == "zeros" && arity(0)) return Zeros();
  if (name == "constant" && arity(1)) return Constant(numbers[0]);
  if (name == "uniform" && arity(2)) return Uniform(numbers[0], numbers[1], gain);
  if (name == "normal" && arity(2)) return Normal(numbers[0], numbers[1], gain);
  if (name == "xavier_uniform" && arity(0)) return XavierUniform(gain);
  if (name == "xavier_normal" && arity(0)) return XavierNormal(gain);
  if (name == "he_uniform" && arity(0)) return HeUniform(gain);
  if (name == "he_normal" && arity(0)) return HeNormal(gain);
  if (name == "he_uniform_fan_out" && arity(0)) return HeUniform(gain, FanMode::kFanOut);
  if (name == "he_normal_fan_out" && arity(0)) return HeNormal(gain, FanMode::kFanOut);
  if (name == "lecun_normal" && arity(0)) return LeCunNormal(gain);
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown initializer \"", spec,
      "\"; choose zeros, constant:V, uniform:LOW:HIGH, normal:MEAN:STD, xavier_uniform, "
      "xavier_normal, he_uniform, he_normal, he_uniform_fan_out, he_normal_fan_out, "
      "lecun_normal"));
}

absl::StatusOr<Initializer> Initializer::FromString(absl::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not an initializer as ToString() writes it"));
  };
  if (text == "zeros") return Zeros();
  const size_t open = text.find('(');
  if (open == absl::string_view::npos || text.back() != ')') return bad();
  const absl::string_view name = text.substr(0, open);
  std::vector<double> numbers;
  double gain = 1.0;
  FanMode mode = FanMode::kFanIn;
  for (absl::string_view part :
       absl::StrSplit(text.substr(open + 1, text.size() - open - 2), ", ")) {
    double v = 0;
    if (part == "fan_in" || part == "fan_out") {
      mode = part == "fan_in" ? FanMode::kFanIn : FanMode::kFanOut;
    } else if (absl::ConsumePrefix(&part, "gain=")) {
      if (!absl::SimpleAtod(part, &gain)) return bad();
    } else if (absl::SimpleAtod(part, &v)) {
      numbers.push_back(v);
    } else {
      return bad();
    }
  }
  auto arity = [&](size_t n) { return numbers.size() == n; };
  if (name == "constant" && arity(1)) return Constant(numbers[0]);
  if (name == "uniform" && arity(2)) return Uniform(numbers[0], numbers[1], gain);
  if (name == "normal" && arity(2)) return Normal(numbers[0], numbers[1], gain);
  if (name == "xavier_uniform" && arity(0)) return XavierUniform(gain);
  if (name == "xavier_normal" && arity(0)) return XavierNormal(gain);
  if (name == "he_uniform" && arity(0)) return HeUniform(gain, mode);
  if (name == "he_normal" && arity(0)) return HeNormal(gain, mode);
  if (name == "lecun_normal" && arity(0)) return LeCunNormal(gain);
  return bad();
}

double Initializer::Mean() const {
  switch (kind_) {
    case Kind::kConstant:
      return a_;
    case Kind::kUniform:
      return gain_ * (a_ + b_) / 2;
    case Kind::kNormal:
      return a_;
    default:
      return 0.0;
  }
}

double Initializer::StdDev(const Shape& shape) const {
  const Fans fans = FansOf(shape);
  const double fan = mode_ == FanMode::kFanIn ? fans.in : fans.out;
  switch (kind_) {
    case Kind::kZeros:
    case Kind::kConstant:
      return 0.0;
    case Kind::kUniform:
      return gain_ * (b_ - a_) / std::sqrt(12.0);
    case Kind::kNormal:
      return gain_ * b_;
    case Kind::kXavierUniform:
    case Kind::kXavierNormal:
      return gain_ * std::sqrt(2.0 / (fans.in + fans.out));
    case Kind::kHeUniform:
    case Kind::kHeNormal:
      return gain_ / std::sqrt(fan);
    case Kind::kLeCunNormal:
      return gain_ / std::sqrt(fans.in);
  }
  return 0.0;
}

void Initializer::Fill(Tensor& t, Generator& gen) const {
  const int64_t n = t.numel();
  std::vector<double> values(static_cast<size_t>(n));
  const double sd = StdDev(t.shape());
  switch (kind_) {
    case Kind::kZeros:
    case Kind::kConstant:
      std::fill(values.begin(), values.end(), kind_ == Kind::kZeros ? 0.0 : a_);
      break;
    case Kind::kUniform:
      for (double& v : values) v = gain_ * (a_ + (b_ - a_) * gen.NextUniform());
      break;
    case Kind::kNormal:
      for (double& v : values) v = a_ + gain_ * b_ * gen.NextNormal();
      break;
    case Kind::kXavierUniform:
    case Kind::kHeUniform: {
      // A uniform on (-b, b) has deviation b / sqrt(3).
      const double bound = sd * std::sqrt(3.0);
      for (double& v : values) v = bound * (2 * gen.NextUniform() - 1);
      break;
    }
    case Kind::kXavierNormal:
    case Kind::kHeNormal:
    case Kind::kLeCunNormal:
      for (double& v : values) v = sd * gen.NextNormal();
      break;
  }
  const Tensor filled = FromValues(values, t.shape(), t.dtype());
  std::memcpy(t.raw_data(), filled.raw_data(), n * DTypeSize(t.dtype()));
}

std::string Initializer::ToString() const {
  const std::string fan = mode_ == FanMode::kFanIn ? "fan_in" : "fan_out";
  switch (kind_) {
    case Kind::kZeros:
      return "zeros";
    case Kind::kConstant:
      return absl::StrFormat("constant(%g)", a_);
    case Kind::kUniform:
      return absl::StrFormat("uniform(%g, %g, gain=%.4g)", a_, b_, gain_);
    case Kind::kNormal:
      return absl::StrFormat("normal(%g, %g, gain=%.4g)", a_, b_, gain_);
    case Kind::kXavierUniform:
      return absl::StrFormat("xavier_uniform(gain=%.4g)", gain_);
    case Kind::kXavierNormal:
      return absl::StrFormat("xavier_normal(gain=%.4g)", gain_);
    case Kind::kHeUniform:
      return absl::StrFormat("he_uniform(gain=%.4g, %s)", gain_, fan);
    case Kind::kHeNormal:
      return absl::StrFormat("he_normal(gain=%.4g, %s)", gain_, fan);
    case Kind::kLeCunNormal:
      return absl::StrFormat("lecun_normal(gain=%.4g)", gain_);
  }
  return "?";
}

double GainOf(const OpDef& activation, const Attrs& attrs) {
  if (UsesEstimatedGain(activation)) return EstimatedGain(activation, attrs);
  return activation.gain != nullptr ? activation.gain(attrs) : 1.0;
}

Initializer RecommendedInitializer(const OpDef& activation, const Attrs& attrs) {
  const double gain = GainOf(activation, attrs);
  return activation.recommended_init == InitFamily::kHe ? Initializer::HeNormal(gain)
                                                        : Initializer::XavierUniform(gain);
}

}  // namespace actgrad::nn
