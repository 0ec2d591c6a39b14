// -----------------------------------------------------------------------------
// File: residual_net.h
// -----------------------------------------------------------------------------
//
// A user-defined network for the training-loop tests: an input layer, two
// residual blocks (x + fc2(tanh(fc1(x)))) and a head, with a custom loss
// (cross-entropy plus a penalty on the logits' size) — nothing the built-in
// Sequential or task losses provide.
//
// Example:
//
//   Generator gen(3);
//   ResidualNet net(/*inputs=*/4, /*width=*/16, /*classes=*/3, gen);
//   nn::TrainResult r = nn::Train(net, PenalizedCrossEntropy, data, options);

#ifndef ACTGRAD_TESTS_RESIDUAL_NET_H_
#define ACTGRAD_TESTS_RESIDUAL_NET_H_

#include <string>

#include "actgrad.h"
#include "nn/nn.h"

namespace actgrad::test_nets {

class ResidualBlock : public nn::Module {
 public:
  ResidualBlock(int64_t width, DType dtype, Generator& gen)
      : fc1_({.in = width, .out = width, .dtype = dtype}, gen),
        fc2_({.in = width, .out = width, .dtype = dtype}, gen) {
    RegisterModule("fc1", &fc1_);
    RegisterModule("fc2", &fc2_);
  }
  Tensor Forward(const Tensor& x) override { return x + fc2_(Tanh(fc1_(x))); }
  std::string ToString() const override { return "ResidualBlock(" + fc1_.ToString() + ")"; }
  std::string Kind() const override { return "residual"; }

 private:
  nn::Linear fc1_, fc2_;
};

class ResidualNet : public nn::Module {
 public:
  ResidualNet(int64_t inputs, int64_t width, int64_t classes, Generator& gen,
              DType dtype = DType::kFloat32)
      : inputs_(inputs),
        width_(width),
        classes_(classes),
        dtype_(dtype),
        in_({.in = inputs, .out = width, .dtype = dtype}, gen),
        block1_(width, dtype, gen),
        block2_(width, dtype, gen),
        head_({.in = width, .out = classes, .dtype = dtype}, gen) {
    RegisterModule("in", &in_);
    RegisterModule("block1", &block1_);
    RegisterModule("block2", &block2_);
    RegisterModule("head", &head_);
  }
  // Logits.
  Tensor Forward(const Tensor& x) override { return head_(block2_(block1_(Tanh(in_(x))))); }
  std::string ToString() const override { return "ResidualNet"; }
  std::string Kind() const override { return "residual_net"; }

  // What a saved model records to rebuild it (nn/model_file.h).
  nn::ModuleConfig Config() const override {
    return nn::ModuleConfig()
        .Set("inputs", inputs_)
        .Set("width", width_)
        .Set("classes", classes_)
        .Set("dtype", DTypeName(dtype_));
  }
  static absl::StatusOr<std::unique_ptr<ResidualNet>> FromConfig(const nn::ModuleConfig& config) {
    absl::StatusOr<int64_t> inputs = config.IntInRange("inputs", 1, 1 << 16);
    absl::StatusOr<int64_t> width = config.IntInRange("width", 1, 1 << 16);
    absl::StatusOr<int64_t> classes = config.IntInRange("classes", 1, 1 << 16);
    absl::StatusOr<std::string> dtype = config.String("dtype");
    for (const absl::Status& s :
         {inputs.status(), width.status(), classes.status(), dtype.status()}) {
      if (!s.ok()) return s;
    }
    Generator unused(0);
    return std::make_unique<ResidualNet>(*inputs, *width, *classes, unused,
                                         *dtype == "float64" ? DType::kFloat64 : DType::kFloat32);
  }

 private:
  int64_t inputs_, width_, classes_;
  DType dtype_;
  nn::Linear in_;
  ResidualBlock block1_, block2_;
  nn::Linear head_;
};

// Cross-entropy of the logits plus 0.01 x their mean square: a mean over
// the batch's rows, as data-parallel training needs.
inline Tensor PenalizedCrossEntropy(const Tensor& logits, const nn::TensorData& batch) {
  return CrossEntropy(logits, batch.targets) + 0.01 * Mean(logits * logits);
}

}  // namespace actgrad::test_nets

#endif  // ACTGRAD_TESTS_RESIDUAL_NET_H_
