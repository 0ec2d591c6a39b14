#include "experiments/report.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nn/activation.h"
#include "viz/activation_plot.h"

namespace actgrad::experiments {

namespace {

// The article's words for the claims the experiments test
// (../shared/seed/CLAIMS.md), so the report can be read on its own.
struct ClaimText {
  absl::string_view id;
  absl::string_view text;
};
constexpr ClaimText kClaims[] = {
    {"C3", "ReLU's derivative is undefined at z = 0; in code it may be set to 0 or 1."},
    {"C8", "For a binary (0/1) output, sigmoid is the right output activation."},
    {"C9",
     "Tanh is almost always better than sigmoid for hidden units: its outputs are centred "
     "near 0, not 0.5, which makes learning in the next layer easier."},
    {"C10", "Default for hidden layers: ReLU. If unsure, use ReLU."},
    {"C11", "A linear activation makes sense only in the output layer (e.g. regression)."},
    {"C13",
     "With linear (identity) activations, any number of layers computes only a linear "
     "function of the input: the network collapses to a single linear layer."},
    {"C14",
     "Linear hidden layers + sigmoid output = exactly as expressive as logistic "
     "regression."},
    {"C15",
     "Sigmoid and tanh saturate: for large |z| their slope is near 0, which slows "
     "gradient descent."},
    {"C16",
     "ReLU and leaky ReLU keep a slope far from 0 over much of the input space, so "
     "networks using them usually learn much faster than with tanh or sigmoid."},
    {"C17", "ReLU's zero slope for z < 0 is in practice not a problem."},
    {"C18", "Sigmoid hidden layers: Xavier/Glorot initialization; scale inputs to [0, 1]."},
    {"C19", "Tanh hidden layers: Xavier/Glorot initialization; scale inputs to [-1, 1]."},
    {"C20", "ReLU hidden layers: He initialization; scale inputs to [0, 1]."},
};

std::vector<std::string> ClaimQuotes(absl::string_view claims) {
  // "C18, C19, C20" or "C13, C14".
  std::vector<std::string> quotes;
  for (absl::string_view id : absl::StrSplit(claims, ',')) {
    id = absl::StripAsciiWhitespace(id);
    for (const ClaimText& c : kClaims) {
      if (c.id == id) quotes.push_back(absl::StrCat("**", c.id, "** ", c.text));
    }
  }
  return quotes;
}

std::string Heading(const Result& r) { return absl::StrCat(r.name, " (", r.claims, ")"); }

// "6 checks: 3 agree, 1 disagrees, 2 inconclusive", leaving out the zeros.
std::string CheckCounts(const Result& r) {
  int counts[3] = {0, 0, 0};
  for (const Check& c : r.checks) ++counts[static_cast<int>(c.outcome)];
  std::vector<std::string> parts;
  if (counts[0] > 0)
    parts.push_back(absl::StrCat(counts[0], counts[0] == 1 ? " agrees" : " agree"));
  if (counts[1] > 0) {
    parts.push_back(absl::StrCat(counts[1], counts[1] == 1 ? " disagrees" : " disagree"));
  }
  if (counts[2] > 0) parts.push_back(absl::StrCat(counts[2], " inconclusive"));
  return absl::StrCat(r.checks.size(),
                      r.checks.size() == 1 ? " check: " : " checks: ", absl::StrJoin(parts, ", "));
}

// Why the verdict is what it is, from the outcomes alone; then the checks
// that keep it from being a plain agree, each as a sentence with its numbers.
std::string VerdictSentence(const Result& r) {
  std::string text = absl::StrCat("Verdict **", VerdictName(r.verdict), "** after ", r.seeds,
                                  " seeds; ", CheckCounts(r), ".");
  std::vector<std::string> against;
  std::vector<std::string> open;
  for (const Check& c : r.checks) {
    if (c.outcome == CheckOutcome::kDisagrees) against.push_back(CheckSentence(c));
    if (c.outcome == CheckOutcome::kInconclusive) open.push_back(CheckSentence(c));
  }
  if (!against.empty()) {
    absl::StrAppend(&text, " Against the claim: ", absl::StrJoin(against, " "));
  }
  if (!open.empty()) {
    absl::StrAppend(&text, " Not settled by ", r.seeds, " seeds: ", absl::StrJoin(open, " "));
  }
  return text;
}

}  // namespace

Figure ActivationFigure() {
  std::vector<viz::ActivationCurve> curves;
  // leaky_relu's default slope of 0.01 would be invisible at this scale.
  for (absl::string_view spec : {"sigmoid", "tanh", "relu", "leaky_relu:alpha=0.1", "identity"}) {
    absl::StatusOr<nn::ActivationSpec> a = nn::ParseActivationSpec(spec);
    if (!a.ok()) continue;
    absl::StatusOr<viz::ActivationCurve> c = viz::SampleActivation(*a->op, a->attrs, -4, 4);
    if (c.ok()) curves.push_back(*std::move(c));
  }
  // One panel per function, as the article draws them; shared axes keep
  // the slopes comparable (sigmoid's peaks at 0.25, tanh's at 1).
  viz::ActivationPlotOptions options;
  options.y_min = -1.5;
  options.y_max = 2.5;
  options.max_in_one_chart = 0;
  return {"activations",
          "The article's five activations (solid) and their derivatives (dashed), drawn from "
          "their op rows (claims C1-C5) as `actgrad plot --op sigmoid --op tanh --op relu "
          "--op leaky_relu:alpha=0.1 --op identity --range=-4,4 --y-range=-1.5,2.5 --panels` "
          "draws them. A derivative's line breaks where the function has a kink.",
          viz::PlotActivations(curves, options)};
}

viz::Report BuildReport(std::span<const Result> results, const ReportContext& context) {
  viz::Report report("What the article's claims look like when measured");
  report.Paragraph(
      "Every measurable claim of the article on activation functions (numbered C1-C20 in "
      "[claims.md](claims.md); each section quotes the ones it tests) is an experiment that "
      "trains small networks with actgrad over several seeds. Each section gives the setup, the "
      "numbers (mean ± standard deviation [min, max] over seeds), figures, and a verdict.");
  report.Paragraph(
      "The verdict is not written by hand. Every experiment states the parts of its claim it "
      "can test as checks: one quantity, its 95 % confidence interval over seeds (a percentile "
      "bootstrap: 4000 resamples of the seeds, paired across configurations, drawn by a "
      "generator with a fixed seed, so the same runs always give the same interval), and a "
      "threshold fixed in the experiment's code. A check **agrees** when the whole interval is "
      "on the claim's side of its threshold, **disagrees** when it is wholly on the other side, "
      "and is **inconclusive** when it straddles it. An experiment starts with 10 seeds per "
      "configuration and reruns with 20, then 30, while any check is inconclusive. Its verdict "
      "is **agrees** when every check agrees, **disagrees** when every check disagrees, "
      "**partly agrees** when at least one agrees and at least one disagrees, and "
      "**inconclusive** otherwise, that is when an inconclusive check could still turn the "
      "verdict either way. Each verdict line below shows the estimate, its interval and the "
      "threshold; the prose after it is generated from the same numbers.");
  std::vector<std::string> how = {absl::StrCat("Regenerate: `", context.command, "`")};
  if (!context.machine.empty()) how.push_back(absl::StrCat("Ran on: ", context.machine));
  report.List(how);

  report.Heading("The functions (C1-C5)");
  const Figure functions = ActivationFigure();
  report.AddFigure({functions.name + ".svg", functions.svg, functions.caption});

  report.Heading("Summary");
  std::vector<std::vector<std::string>> rows;
  for (const Result& r : results) {
    rows.push_back({absl::StrCat("[", r.name, "](#", viz::Slug(Heading(r)), ")"), r.claims,
                    absl::StrCat("**", VerdictName(r.verdict), "**"), CheckCounts(r),
                    absl::StrCat(r.seeds), r.title});
  }
  report.Table({"experiment", "claims", "verdict", "checks", "seeds", "question"}, rows);

  for (const Result& r : results) {
    report.Heading(Heading(r));
    const bool punctuated = !r.title.empty() && (r.title.back() == '?' || r.title.back() == '.');
    report.Paragraph(absl::StrCat("**", r.title, punctuated ? "" : ".", "** Verdict: **",
                                  VerdictName(r.verdict), "** (", CheckCounts(r), "; ", r.seeds,
                                  " seeds per configuration, rounds of ",
                                  absl::StrJoin(r.seed_rounds, ", "), ")."));
    const std::vector<std::string> quotes = ClaimQuotes(r.claims);
    if (!quotes.empty()) {
      report.Paragraph("What the article says:");
      report.List(quotes);
    }
    report.Heading("Setup", 3);
    report.List(r.setup);
    report.Heading("Results", 3);
    for (const Table& t : r.tables) {
      report.Paragraph(absl::StrCat("*", t.caption, "*"));
      report.Table(t.header, t.rows);
    }
    for (const Figure& f : r.figures) report.AddFigure({f.name + ".svg", f.svg, f.caption});
    report.Heading("Verdict", 3);
    std::vector<std::vector<std::string>> checks;
    for (const Check& c : r.checks) {
      checks.push_back({c.claim, c.statement, c.quantity, FormatInterval(c.value),
                        FormatThreshold(c), absl::StrCat("**", OutcomeName(c.outcome), "**"),
                        c.evidence.empty() ? "-" : c.evidence});
    }
    report.Table({"claim", "tested statement", "quantity", "estimate [95 % interval]",
                  "claim holds if", "result", "also measured"},
                 checks);
    report.Paragraph(VerdictSentence(r));
    if (!r.discussion.empty()) report.Paragraph(r.discussion);
  }
  return report;
}

}  // namespace actgrad::experiments
