#include "tools/gradcheck_command.h"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "ops/op_check.h"
#include "ops/registry.h"
#include "tools/json_writer.h"
#include "tools/plugins.h"

namespace actgrad::tools {

namespace {

struct GradcheckFlags {
  std::vector<std::string> plugins;
  std::vector<std::string> ops;
  bool json = false;
  bool verbose = false;
  uint64_t seed = 1;
  double atol = GradCheckOptions().atol;
  double rtol = GradCheckOptions().rtol;
};

int Run(const GradcheckFlags& flags) {
  if (!LoadPlugins(flags.plugins, "actgrad gradcheck")) return 1;
  const OpRegistry& registry = OpRegistry::Global();
  std::vector<const OpDef*> ops;
  if (flags.ops.empty()) {
    ops = registry.All();
  } else {
    for (const std::string& name : flags.ops) {
      absl::StatusOr<const OpDef*> op = registry.Find(name);
      if (!op.ok()) {
        std::cerr << "actgrad gradcheck: " << op.status().message() << "\n";
        return 2;
      }
      ops.push_back(*op);
    }
  }

  GradCheckOptions options;
  options.atol = flags.atol;
  options.rtol = flags.rtol;
  int failures = 0;
  std::string json = "{\"ops\": [";
  for (size_t i = 0; i < ops.size(); ++i) {
    const OpDef& op = *ops[i];
    const OpCheckResult result = CheckOp(op, flags.seed, options);
    failures += result.passed ? 0 : 1;
    if (flags.json) {
      absl::StrAppendFormat(&json,
                            "%s\n  {\"name\": %s, \"passed\": %s, \"cases\": %d, "
                            "\"elements\": %d, \"max_abs_error\": %s, \"max_rel_error\": %s}",
                            i == 0 ? "" : ",", JsonString(op.name),
                            result.passed ? "true" : "false", result.cases.size(),
                            result.checked, JsonNumber(result.max_abs_error),
                            JsonNumber(result.max_rel_error));
      continue;
    }
    std::cout << absl::StrFormat("%-4s  %-34s %2d cases %4d elements  max abs %-9.2g max rel %.2g\n",
                                 result.passed ? "PASS" : "FAIL", op.name, result.cases.size(),
                                 result.checked, result.max_abs_error, result.max_rel_error);
    if (result.cases.empty()) std::cout << "      no sample inputs: the op's row has no check_cases\n";
    for (const OpCaseResult& c : result.cases) {
      if (c.report.passed && !flags.verbose) continue;
      std::cout << "      case " << c.description << ": " << c.report.ToString();
    }
  }
  if (flags.json) {
    std::cout << json << "\n]}\n";
  } else {
    std::cout << absl::StrFormat("%d of %d ops passed (float64 central differences, atol %g, "
                                 "rtol %g)\n",
                                 ops.size() - failures, ops.size(), flags.atol, flags.rtol);
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

void AddGradcheckCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<GradcheckFlags>();
  CLI::App* sub = app.add_subcommand(
      "gradcheck", "Check every registered op's gradient against float64 finite differences");
  sub->add_option("--op", flags->ops, "Check only this op (repeatable)");
  AddPluginOption(sub, &flags->plugins);
  sub->add_flag("--json", flags->json, "Print one JSON object instead of the table");
  sub->add_flag("--verbose", flags->verbose, "Report every case, not only failing ones");
  sub->add_option("--seed", flags->seed, "Seed of the sample inputs")->capture_default_str();
  sub->add_option("--atol", flags->atol, "Absolute tolerance")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--rtol", flags->rtol, "Relative tolerance")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->callback([flags, exit_code] { *exit_code = Run(*flags); });
}

}  // namespace actgrad::tools
