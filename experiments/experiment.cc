#include "experiments/experiment.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "experiments/runners.h"
#include "experiments/stats.h"

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

double LossFactor(const Options& options, int repeat) {
  return repeat == options.perturbed_repeat ? 1 + options.loss_perturbation : 1.0;
}

int DefaultRepeats(const Options& options) {
  if (options.repeats > 0) return options.repeats;
  return options.reduced ? 2 : 10;
}

int MaxRepeats(const Options& options) {
  if (options.repeats > 0) return options.repeats;
  if (options.max_repeats > 0) return std::max(options.max_repeats, DefaultRepeats(options));
  return options.reduced ? 4 : 30;
}

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAgrees:
      return "agrees";
    case Verdict::kPartlyAgrees:
      return "partly agrees";
    case Verdict::kDisagrees:
      return "disagrees";
    case Verdict::kInconclusive:
      return "inconclusive";
  }
  return "?";
}

const char* OutcomeName(CheckOutcome outcome) {
  switch (outcome) {
    case CheckOutcome::kAgrees:
      return "agrees";
    case CheckOutcome::kDisagrees:
      return "disagrees";
    case CheckOutcome::kInconclusive:
      return "inconclusive";
  }
  return "?";
}

CheckOutcome Decide(const Check& check) {
  const Interval& v = check.value;
  if (std::isnan(v.low) || std::isnan(v.high)) return CheckOutcome::kInconclusive;
  if (check.side == Side::kAtMost) {
    if (v.high <= check.threshold) return CheckOutcome::kAgrees;
    if (v.low > check.threshold) return CheckOutcome::kDisagrees;
  } else {
    if (v.low >= check.threshold) return CheckOutcome::kAgrees;
    if (v.high < check.threshold) return CheckOutcome::kDisagrees;
  }
  return CheckOutcome::kInconclusive;
}

std::string FormatThreshold(const Check& check) {
  return absl::StrCat(check.side == Side::kAtMost ? "≤ " : "≥ ", FormatValue(check.threshold));
}

std::string CheckLine(const Check& check) {
  return absl::StrCat(check.quantity, " ", FormatInterval(check.value), ", claim ",
                      FormatThreshold(check), ": ", OutcomeName(Decide(check)));
}

std::string CheckSentence(const Check& check) {
  const char* where = "";
  switch (Decide(check)) {
    case CheckOutcome::kAgrees:
      where = check.side == Side::kAtMost ? "at or below" : "at or above";
      break;
    case CheckOutcome::kDisagrees:
      where = check.side == Side::kAtMost ? "above" : "below";
      break;
    case CheckOutcome::kInconclusive:
      where = "with an interval across";
      break;
  }
  std::string sentence = absl::StrCat(check.quantity, " was ", FormatInterval(check.value), ", ",
                                      where, " the claim's ", FormatThreshold(check), ".");
  sentence[0] = absl::ascii_toupper(static_cast<unsigned char>(sentence[0]));
  return sentence;
}

Verdict VerdictFromChecks(std::span<const Check> checks) {
  int agree = 0;
  int disagree = 0;
  for (const Check& c : checks) {
    const CheckOutcome o = Decide(c);
    agree += o == CheckOutcome::kAgrees;
    disagree += o == CheckOutcome::kDisagrees;
  }
  const int n = static_cast<int>(checks.size());
  if (agree > 0 && disagree > 0) return Verdict::kPartlyAgrees;
  if (n > 0 && agree == n) return Verdict::kAgrees;
  if (n > 0 && disagree == n) return Verdict::kDisagrees;
  return Verdict::kInconclusive;
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
  Options round = options;
  if (round.threads <= 0) round.threads = std::max(1u, std::thread::hardware_concurrency());
  round.repeats = DefaultRepeats(options);
  const int cap = MaxRepeats(options);
  std::vector<int> rounds;
  absl::StatusOr<Result> result;
  while (true) {
    rounds.push_back(round.repeats);
    result = experiment.run(round);
    if (!result.ok()) return result.status();
    const bool open = std::any_of(result->checks.begin(), result->checks.end(), [](const Check& c) {
      return Decide(c) == CheckOutcome::kInconclusive;
    });
    if (!open || round.repeats >= cap) break;
    // Doubling keeps the rounds few; each reruns seeds 0..n-1 too, which
    // costs at most as much as the new seeds and keeps one code path.
    round.repeats = std::min(cap, 2 * round.repeats);
  }
  result->name = std::string(experiment.name);
  result->claims = std::string(experiment.claims);
  for (Check& c : result->checks) c.outcome = Decide(c);
  result->verdict = VerdictFromChecks(result->checks);
  result->seeds = round.repeats;
  result->seed_rounds = std::move(rounds);
  result->threads = round.threads;
  result->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace actgrad::experiments
