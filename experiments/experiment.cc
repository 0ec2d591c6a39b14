#include "experiments/experiment.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "experiments/runners.h"

namespace actgrad::experiments {

namespace {

constexpr Experiment kExperiments[] = {
    {"linear-collapse", "C13, C14",
     "a deep network with identity activations is one linear layer; on data no line separates "
     "it does no better than logistic regression, while tanh and ReLU hidden units fit it",
     &RunLinearCollapse},
    {"saturation", "C15",
     "gradient magnitude and saturated units per layer, at initialization and during training, "
     "in deep sigmoid, tanh and ReLU networks; histograms of activations per layer",
     &RunSaturation},
    {"tanh-vs-sigmoid", "C9",
     "epochs and time to a target training loss with tanh or sigmoid hidden units, everything "
     "else equal; where the hidden activations are centred",
     &RunTanhVsSigmoid},
    {"relu-speed", "C10, C16, C17",
     "epochs and wall time to a target loss on digits for sigmoid, tanh, relu and leaky_relu, "
     "each with its recommended initializer; the fraction of dead ReLU units",
     &RunReluSpeed},
    {"initialization", "C18, C19, C20",
     "Xavier against He initialization on 30-layer ReLU and tanh networks: standard deviation "
     "of activations and gradients per layer, and whether training gets anywhere",
     &RunInitialization},
    {"relu-derivative-at-zero", "C3",
     "training with relu's derivative at exactly 0 set to 0 and to 1: how often a pre-"
     "activation is exactly 0, and whether the results differ",
     &RunReluDerivativeAtZero},
    {"output-layer", "C8, C11",
     "binary classification with a sigmoid output and cross-entropy against an identity output "
     "with squared error; regression with an identity output against a sigmoid one",
     &RunOutputLayer},
};

int EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<int> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int diagonal = row[0];
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAgrees:
      return "agrees";
    case Verdict::kPartlyAgrees:
      return "partly agrees";
    case Verdict::kDisagrees:
      return "disagrees";
  }
  return "?";
}

Verdict VerdictFromChecks(std::span<const Check> checks) {
  const auto supported =
      std::count_if(checks.begin(), checks.end(), [](const Check& c) { return c.supported; });
  if (checks.empty() || supported == 0) return Verdict::kDisagrees;
  return supported == static_cast<std::ptrdiff_t>(checks.size()) ? Verdict::kAgrees
                                                                 : Verdict::kPartlyAgrees;
}

std::span<const Experiment> AllExperiments() { return kExperiments; }

absl::StatusOr<const Experiment*> FindExperiment(absl::string_view name) {
  for (const Experiment& e : kExperiments) {
    if (e.name == name) return &e;
  }
  std::vector<std::pair<int, absl::string_view>> ranked;
  for (const Experiment& e : kExperiments) ranked.push_back({EditDistance(name, e.name), e.name});
  std::sort(ranked.begin(), ranked.end());
  std::vector<absl::string_view> close;
  for (const auto& [distance, candidate] : ranked) {
    const bool prefix = !name.empty() && candidate.substr(0, name.size()) == name;
    if (distance <= 3 || prefix) close.push_back(candidate);
  }
  std::vector<absl::string_view> all;
  for (const Experiment& e : kExperiments) all.push_back(e.name);
  return absl::NotFoundError(absl::StrCat(
      "no experiment named \"", name, "\"",
      close.empty() ? "" : absl::StrCat("; did you mean ", absl::StrJoin(close, " or "), "?"),
      " (experiments: ", absl::StrJoin(all, ", "), ", or all)"));
}

absl::StatusOr<Result> RunExperiment(const Experiment& experiment, const Options& options) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<Result> result = experiment.run(options);
  if (!result.ok()) return result.status();
  result->name = std::string(experiment.name);
  result->claims = std::string(experiment.claims);
  result->verdict = VerdictFromChecks(result->checks);
  result->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace actgrad::experiments
