#include "tools/plot_command.h"

#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "io/file.h"
#include "nn/activation.h"
#include "ops/registry.h"
#include "tools/output_paths.h"
#include "tools/plugins.h"
#include "viz/activation_plot.h"

namespace actgrad::tools {

namespace {

struct PlotFlags {
  std::vector<std::string> ops;
  std::string range = "-5,5";
  std::string y_range;
  int points = 401;
  std::string out = "activations.svg";
  std::string title;
  bool panels = false;
  std::vector<std::string> plugins;
  bool follow_symlinks = false;
};

struct Interval {
  double lo = 0;
  double hi = 0;
};

absl::StatusOr<Interval> ParseInterval(const char* flag, absl::string_view text) {
  const std::vector<absl::string_view> parts = absl::StrSplit(text, ',');
  Interval r;
  if (parts.size() != 2 || !absl::SimpleAtod(absl::StripAsciiWhitespace(parts[0]), &r.lo) ||
      !absl::SimpleAtod(absl::StripAsciiWhitespace(parts[1]), &r.hi)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " \"", text, "\" is not two numbers A,B (e.g. ", flag, "=-5,5)"));
  }
  if (!std::isfinite(r.lo) || !std::isfinite(r.hi) || !(r.lo < r.hi)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", text, ": the ends must be finite and the first below the second"));
  }
  return r;
}

int Run(const PlotFlags& given) {
  PlotFlags flags = given;
  std::string out = flags.out == "-" ? "" : flags.out;  // stdout needs no check
  if (!CheckOutputs("actgrad plot", {{"--out", &out}}, flags.plugins, flags.follow_symlinks)) {
    return 2;
  }
  if (!out.empty()) flags.out = out;
  if (!LoadPlugins(flags.plugins, "actgrad plot")) return 1;
  absl::StatusOr<Interval> range = ParseInterval("--range", flags.range);
  if (!range.ok()) {
    std::cerr << "actgrad plot: " << range.status().message() << "\n";
    return 2;
  }
  viz::ActivationPlotOptions options;
  if (!flags.title.empty()) options.title = flags.title;
  if (flags.panels) options.max_in_one_chart = 0;
  if (!flags.y_range.empty()) {
    absl::StatusOr<Interval> y = ParseInterval("--y-range", flags.y_range);
    if (!y.ok()) {
      std::cerr << "actgrad plot: " << y.status().message() << "\n";
      return 2;
    }
    options.y_min = y->lo;
    options.y_max = y->hi;
  }

  std::vector<viz::ActivationCurve> curves;
  if (flags.ops.empty()) {
    // Everything that can be drawn as y = f(x); the rest is named, not fatal.
    for (const OpDef* op : OpRegistry::Global().Activations()) {
      absl::StatusOr<viz::ActivationCurve> curve =
          viz::SampleActivation(*op, {}, range->lo, range->hi, flags.points);
      if (!curve.ok()) {
        std::cerr << "actgrad plot: skipping " << op->name << ": " << curve.status().message()
                  << "\n";
        continue;
      }
      curves.push_back(*std::move(curve));
    }
  } else {
    for (const std::string& spec : flags.ops) {
      absl::StatusOr<nn::ActivationSpec> activation = nn::ParseActivationSpec(spec);
      absl::StatusOr<viz::ActivationCurve> curve =
          activation.ok() ? viz::SampleActivation(*activation->op, activation->attrs, range->lo,
                                                  range->hi, flags.points)
                          : absl::StatusOr<viz::ActivationCurve>(activation.status());
      if (!curve.ok()) {
        std::cerr << "actgrad plot: " << curve.status().message() << "\n";
        return 2;
      }
      curves.push_back(*std::move(curve));
    }
  }
  if (curves.empty()) {
    std::cerr << "actgrad plot: no activation to draw\n";
    return 2;
  }

  const std::string svg = viz::PlotActivations(curves, options);
  if (flags.out == "-") {
    std::cout << svg;
    return 0;
  }
  const absl::string_view pieces[] = {svg};
  if (absl::Status s = io::WriteFileAtomically(flags.out, pieces); !s.ok()) {
    std::cerr << "actgrad plot: " << s.message() << "\n";
    return 1;
  }
  int evaluated = 0;
  for (const viz::ActivationCurve& c : curves) evaluated += c.from_formulas ? 0 : 1;
  std::cout << absl::StrFormat("wrote %s: %d activation%s over [%g, %g]", flags.out, curves.size(),
                               curves.size() == 1 ? "" : "s", range->lo, range->hi);
  if (evaluated > 0) {
    std::cout << absl::StrFormat(" (%d without scalar formulas, drawn from Apply and Backward)",
                                 evaluated);
  }
  std::cout << "\n";
  return 0;
}

}  // namespace

void AddPlotCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<PlotFlags>();
  CLI::App* sub =
      app.add_subcommand("plot", "Draw activations and their derivatives (dashed) as an SVG file");
  sub->add_option("--op", flags->ops,
                  "Draw this activation (repeatable; NAME or NAME:key=value); default: all");
  sub->add_option("--range", flags->range, "The x range A,B (write --range=-5,5)")
      ->capture_default_str();
  sub->add_option("--y-range", flags->y_range, "Fix the y axis to A,B (default: fit the curves)");
  sub->add_option("--points", flags->points, "Samples per curve")
      ->check(CLI::Range(8, 100000))
      ->capture_default_str();
  sub->add_option("--out", flags->out, "The SVG file to write (- for stdout)")
      ->capture_default_str();
  sub->add_option("--title", flags->title, "The chart's title");
  sub->add_flag("--panels", flags->panels,
                "One small chart per function (the default beyond 8 functions)");
  AddPluginOption(sub, &flags->plugins);
  sub->add_flag("--follow-symlinks", flags->follow_symlinks,
                "Write --out through a symbolic link to its target");
  sub->callback([flags, exit_code] { *exit_code = Run(*flags); });
}

}  // namespace actgrad::tools
