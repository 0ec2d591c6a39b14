// Writes the models the PyTorch round trip checks, one per layer kind the
// library has, and a CSV of inputs for them:
//
//   write_models DIR
//
// DIR/inputs.csv, DIR/residual.safetensors (a user kind), DIR/lstm.safetensors,
// DIR/float64.safetensors and DIR/activation_<op>.safetensors for every
// registered activation.

#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/str_format.h"
#include "actgrad.h"
#include "nn/nn.h"
#include "tests/residual_net.h"

ACTGRAD_REGISTER_MODULE_KIND(actgrad::test_nets::ResidualNet, "residual_net");

using namespace actgrad;

namespace {

constexpr int64_t kFeatures = 4;

bool Check(const absl::Status& status) {
  if (!status.ok()) std::cerr << status.message() << "\n";
  return status.ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: write_models DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  Generator gen(7);
  // Raw rows with columns of different ranges, so that the scaler matters.
  const Tensor raw = Normal({64, kFeatures}, 0, 3, gen);
  {
    std::ofstream csv(dir + "/inputs.csv");
    csv << "f0,f1,f2,f3\n";
    const std::vector<double> v = raw.ToVector();
    for (int64_t r = 0; r < 64; ++r) {
      for (int64_t c = 0; c < kFeatures; ++c) {
        csv << absl::StrFormat("%.9g", v[r * kFeatures + c] * (c + 1))
            << (c + 1 < kFeatures ? "," : "\n");
      }
    }
  }
  const nn::Scaler scaler = nn::Scaler::Fit(nn::Scaling::kStandard, raw);
  const std::vector<std::string> features = {"f0", "f1", "f2", "f3"};
  bool ok = true;

  test_nets::ResidualNet residual(kFeatures, 8, 3, gen);
  ok &= Check(nn::Save(dir + "/residual.safetensors", residual,
                       {.task = nn::Task::kMulticlass,
                        .output = nn::ModelOutput::kLogits,
                        .scaler = scaler,
                        .feature_names = features,
                        .labels = {"low", "mid", "high"}}));

  nn::Sequential lstm;
  lstm.Add(
      std::make_unique<nn::LstmCell>(nn::LstmCellOptions{.input = kFeatures, .hidden = 5}, gen));
  lstm.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 5, .out = 1}, gen));
  ok &= Check(nn::Save(dir + "/lstm.safetensors", lstm,
                       {.task = nn::Task::kBinary,
                        .output = nn::ModelOutput::kLogits,
                        .scaler = scaler,
                        .feature_names = features}));

  auto wide =
      nn::Mlp({.inputs = kFeatures, .hidden = {6}, .outputs = 2, .dtype = DType::kFloat64}, gen);
  ok &= Check(nn::Save(dir + "/float64.safetensors", *wide,
                       {.task = nn::Task::kRegression, .feature_names = features}));

  for (const OpDef* op : OpRegistry::Global().All()) {
    if (!nn::IsActivationLike(*op)) continue;
    nn::Sequential model;
    model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = kFeatures, .out = 6}, gen));
    // Attributes away from their defaults where the op has any.
    Attrs attrs = WithDefaults(*op, Attrs{});
    for (const AttrSpec& spec : op->attrs) {
      if (double* slot = RealSlot(spec, attrs); slot != nullptr && spec.name != "grad_at_zero") {
        *slot = spec.name == "min_val" ? -0.75 : (spec.name == "max_val" ? 1.25 : 0.7);
      }
    }
    model.Add(std::make_unique<nn::Activation>(*op, attrs));
    model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 6, .out = 3}, gen));
    ok &= Check(
        nn::Save(dir + "/activation_" + std::string(op->name) + ".safetensors", model,
                 {.task = nn::Task::kRegression, .scaler = scaler, .feature_names = features}));
  }
  return ok ? 0 : 1;
}
