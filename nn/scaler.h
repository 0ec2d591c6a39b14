// -----------------------------------------------------------------------------
// File: scaler.h
// -----------------------------------------------------------------------------
//
// Input scaling, fitted on the training split only and applied unchanged to
// test and prediction data (fitting on all data leaks the test set). The
// article pairs the range with the hidden activation (claims C18-C20): [0, 1]
// for sigmoid and the ReLU family, [-1, 1] for tanh; `RecommendedScaling`
// reads that advice from the activation's row. A fitted scaler serializes to
// one line of text, saved with the model.
//
// Example:
//
//   actgrad::nn::Scaler scaler = actgrad::nn::Scaler::Fit(
//       actgrad::nn::RecommendedScaling(actgrad::ops::kTanh), train_x);
//   actgrad::Tensor train = scaler.Transform(train_x);  // each column in [-1, 1]
//   actgrad::Tensor test = scaler.Transform(test_x);    // same map, may leave the range

#ifndef ACTGRAD_NN_SCALER_H_
#define ACTGRAD_NN_SCALER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/op_def.h"
#include "graph/tensor.h"

namespace actgrad::nn {

enum class Scaling {
  kNone,
  kUnit,       // min-max to [0, 1]
  kSymmetric,  // min-max to [-1, 1]
  kStandard,   // zero mean, unit variance
};

// "none", "unit", "symmetric", "standard".
const char* ScalingName(Scaling scaling);
absl::StatusOr<Scaling> ParseScaling(absl::string_view name);
Scaling RecommendedScaling(const OpDef& hidden_activation);

class Scaler {
 public:
  // Fits per-column statistics of `x` ([rows, columns]). A constant column
  // is shifted but not stretched.
  static Scaler Fit(Scaling scaling, const Tensor& x);

  // x * scale + shift, column by column; a new tensor of x's dtype, cut
  // from the graph. Throws `Error` when the column count differs.
  Tensor Transform(const Tensor& x) const;

  Scaling scaling() const { return scaling_; }
  const std::vector<double>& scale() const { return scale_; }
  const std::vector<double>& shift() const { return shift_; }

  // A scaler from its parts, as a saved model stores them; kInvalidArgument
  // when scale and shift differ in length or hold a non-finite value.
  static absl::StatusOr<Scaler> FromParts(Scaling scaling, std::vector<double> scale,
                                          std::vector<double> shift);

  // "unit|scale=0.5,0.25|shift=-1,0", exact to the last bit of each double.
  std::string Serialize() const;
  static absl::StatusOr<Scaler> Deserialize(absl::string_view text);

 private:
  Scaling scaling_ = Scaling::kNone;
  std::vector<double> scale_;
  std::vector<double> shift_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_SCALER_H_
