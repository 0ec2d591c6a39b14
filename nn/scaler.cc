#include "nn/scaler.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "graph/factories.h"

namespace actgrad::nn {

const char* ScalingName(Scaling scaling) {
  switch (scaling) {
    case Scaling::kNone:
      return "none";
    case Scaling::kUnit:
      return "unit";
    case Scaling::kSymmetric:
      return "symmetric";
    case Scaling::kStandard:
      return "standard";
  }
  return "?";
}

absl::StatusOr<Scaling> ParseScaling(absl::string_view name) {
  for (Scaling s : {Scaling::kNone, Scaling::kUnit, Scaling::kSymmetric, Scaling::kStandard}) {
    if (name == ScalingName(s)) return s;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown scaling \"", name, "\"; choose none, unit, symmetric or standard"));
}

Scaling RecommendedScaling(const OpDef& hidden_activation) {
  return hidden_activation.recommended_input_range == InputRange::kSymmetric ? Scaling::kSymmetric
                                                                             : Scaling::kUnit;
}

Scaler Scaler::Fit(Scaling scaling, const Tensor& x) {
  ACTGRAD_REQUIRE(x.rank() == 2, std::source_location::current(),
                  "Scaler: needs [rows, columns], got ", x.shape().ToString());
  const int64_t rows = x.dim(0), columns = x.dim(1);
  const std::vector<double> v = x.ToVector();
  Scaler s;
  s.scaling_ = scaling;
  s.scale_.assign(columns, 1.0);
  s.shift_.assign(columns, 0.0);
  if (scaling == Scaling::kNone || rows == 0) return s;
  for (int64_t c = 0; c < columns; ++c) {
    double lo = v[c], hi = v[c], sum = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const double value = v[r * columns + c];
      lo = std::min(lo, value);
      hi = std::max(hi, value);
      sum += value;
    }
    if (scaling == Scaling::kStandard) {
      const double mean = sum / rows;
      double squares = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const double d = v[r * columns + c] - mean;
        squares += d * d;
      }
      const double sd = std::sqrt(squares / rows);
      s.scale_[c] = sd > 0 ? 1.0 / sd : 1.0;
      s.shift_[c] = -mean * s.scale_[c];
      continue;
    }
    const double low = scaling == Scaling::kUnit ? 0.0 : -1.0;
    const double width = 1.0 - low;
    s.scale_[c] = hi > lo ? width / (hi - lo) : 1.0;
    s.shift_[c] = low - lo * s.scale_[c];
  }
  return s;
}

Tensor Scaler::Transform(const Tensor& x) const {
  ACTGRAD_REQUIRE(x.rank() == 2 && x.dim(1) == static_cast<int64_t>(scale_.size()),
                  std::source_location::current(), "Scaler: fitted on ", scale_.size(),
                  " columns, got ", x.shape().ToString());
  std::vector<double> v = x.ToVector();
  const int64_t columns = x.dim(1);
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t c = i % columns;
    v[i] = v[i] * scale_[c] + shift_[c];
  }
  return FromValues(v, x.shape(), x.dtype());
}

std::string Scaler::Serialize() const {
  auto exact = [](std::string* out, double d) { absl::StrAppendFormat(out, "%.17g", d); };
  return absl::StrCat(ScalingName(scaling_), "|scale=", absl::StrJoin(scale_, ",", exact),
                      "|shift=", absl::StrJoin(shift_, ",", exact));
}

absl::StatusOr<Scaler> Scaler::FromParts(Scaling scaling, std::vector<double> scale,
                                         std::vector<double> shift) {
  if (scale.size() != shift.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("scale has ", scale.size(), " values, shift ", shift.size()));
  }
  for (const std::vector<double>* values : {&scale, &shift}) {
    for (double v : *values) {
      if (!std::isfinite(v)) return absl::InvalidArgumentError("a value is not a finite number");
    }
  }
  Scaler s;
  s.scaling_ = scaling;
  s.scale_ = std::move(scale);
  s.shift_ = std::move(shift);
  return s;
}

absl::StatusOr<Scaler> Scaler::Deserialize(absl::string_view text) {
  const std::vector<absl::string_view> parts = absl::StrSplit(text, '|');
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("scaler \"", text.substr(0, 60), "\": ", why));
  };
  if (parts.size() != 3 || !absl::StartsWith(parts[1], "scale=") ||
      !absl::StartsWith(parts[2], "shift=")) {
    return bad("expected KIND|scale=...|shift=...");
  }
  absl::StatusOr<Scaling> scaling = ParseScaling(parts[0]);
  if (!scaling.ok()) return scaling.status();
  Scaler s;
  s.scaling_ = *scaling;
  auto numbers = [&](absl::string_view list, std::vector<double>* out) {
    if (list.empty()) return true;
    for (absl::string_view item : absl::StrSplit(list, ',')) {
      double d = 0;
      if (!absl::SimpleAtod(item, &d) || !std::isfinite(d)) return false;
      out->push_back(d);
    }
    return true;
  };
  if (!numbers(parts[1].substr(6), &s.scale_) || !numbers(parts[2].substr(6), &s.shift_)) {
    return bad("a value is not a finite number");
  }
  if (s.scale_.size() != s.shift_.size()) return bad("scale and shift differ in length");
  return s;
}

}  // namespace actgrad::nn
