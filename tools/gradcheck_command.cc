#include "tools/gradcheck_command.h"

#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "check/conformance.h"
#include "check/conformance_json.h"
#include "check/module_check.h"
#include "graph/factories.h"
#include "graph/generator.h"
#include "io/csv.h"
#include "io/json.h"
#include "nn/activation.h"
#include "nn/model_file.h"
#include "ops/registry.h"
#include "tools/plugins.h"

namespace actgrad::tools {

namespace {

struct GradcheckFlags {
  std::vector<std::string> plugins;
  std::vector<std::string> ops;
  bool json = false;
  bool report = false;
  bool verbose = false;
  bool second_order = false;
  bool strict_infinity = false;
  uint64_t seed = 1;
  double atol = GradCheckOptions().atol;
  double rtol = GradCheckOptions().rtol;
  // "attr=LOW:HIGH[:N]": check N values (5 by default) of the attribute,
  // on every op checked that has it.
  std::vector<std::string> sweeps;
  // --model: a saved network instead of the op table.
  std::string model;
  std::string data;
  int64_t rows = 8;
  int directions = ModuleCheckOptions().directions;
  double step = ModuleCheckOptions().step;
  bool no_shrink = false;
  bool eval = false;
  // Whether --atol and --rtol were given: the network check has its own
  // defaults.
  bool tolerances_given = false;
};

// One attribute setting to check besides an op's defaults.
struct AttributeSetting {
  std::string text;  // "alpha=0.333"
  Attrs attrs;
};

// N values evenly spaced over [low, high], ends included.
std::vector<double> Spaced(double low, double high, int n) {
  std::vector<double> values;
  for (int i = 0; i < n; ++i) values.push_back(n == 1 ? low : low + (high - low) * i / (n - 1));
  return values;
}

// The settings a run checks besides the defaults: each real attribute with
// a declared range at both ends and at two points between them (the others
// at their defaults), and what --sweep asks for.
absl::StatusOr<std::vector<AttributeSetting>> Settings(const OpDef& op,
                                                       const std::vector<std::string>& sweeps,
                                                       bool declared) {
  std::vector<AttributeSetting> settings;
  auto add = [&](const AttrSpec& spec, double value) {
    Attrs attrs;
    *RealSlot(spec, attrs) = value;
    settings.push_back({absl::StrCat(spec.name, "=", value), attrs});
  };
  for (const std::string& sweep : sweeps) {
    const size_t eq = sweep.find('=');
    const std::vector<std::string> range =
        absl::StrSplit(eq == std::string::npos ? "" : sweep.substr(eq + 1), ':');
    double low = 0, high = 0;
    int n = 5;
    if (eq == std::string::npos || range.size() < 2 || range.size() > 3 ||
        !absl::SimpleAtod(range[0], &low) || !absl::SimpleAtod(range[1], &high) ||
        (range.size() == 3 && !absl::SimpleAtoi(range[2], &n)) || !std::isfinite(low) ||
        !std::isfinite(high) || n < 1 || n > 1000) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--sweep ", sweep, ": expected ATTR=LOW:HIGH[:N] with finite ends and 1 <= N <= 1000"));
    }
    for (const AttrSpec& spec : op.attrs) {
      if (spec.name != sweep.substr(0, eq) || spec.integer != nullptr) continue;
      for (double v : Spaced(low, high, n)) add(spec, v);
    }
  }
  if (!declared) return settings;
  for (const AttrSpec& spec : op.attrs) {
    if (spec.integer != nullptr || std::isnan(spec.low) || std::isnan(spec.high)) continue;
    for (double v : Spaced(spec.low, spec.high, 4)) add(spec, v);
  }
  return settings;
}

// "nan", or the value as %.10g.
std::string Value(double v) { return std::isnan(v) ? "nan" : absl::StrFormat("%.10g", v); }

// The worst elements under a failing op's summary: first and second
// derivative, and a NaN (or wrong value) at a finite input, each with its
// case, x and both values.
void PrintWorst(const ConformanceReport& report, const std::string& prefix = "") {
  const std::string indent = "      " + prefix;
  if (report.worst.has_value() && !report.worst->passed) {
    const ElementCheck& e = *report.worst;
    if (report.worst_derivative && report.worst_numeric_derivative) {
      std::cout << absl::StrFormat(
          "%sworst element: %s, x=%.6g: f'(x) = %s by the row, %s by finite differences\n", indent,
          report.worst_case, e.x, Value(*report.worst_derivative),
          Value(*report.worst_numeric_derivative));
    } else {
      std::cout << absl::StrFormat(
          "%sworst element: %s input %d %s  x=%.6g  analytic=%s  numeric=%s  abs=%.3g  "
          "rel=%.3g\n",
          indent, report.worst_case, e.input, e.index, e.x, Value(e.analytic), Value(e.numeric),
          e.abs_error, e.rel_error);
    }
  }
  if (report.second_order_worst.has_value() && !report.second_order_worst->passed) {
    const ElementCheck& e = *report.second_order_worst;
    if (report.second_order_worst_derivative && report.second_order_worst_numeric_derivative) {
      std::cout << absl::StrFormat(
          "%sworst second-order element: %s, x=%.6g: f''(x) = %s by the row, %s by finite "
          "differences of f'\n",
          indent, report.second_order_worst_case, e.x, Value(*report.second_order_worst_derivative),
          Value(*report.second_order_worst_numeric_derivative));
    } else {
      std::cout << absl::StrFormat(
          "%sworst second-order element: %s input %d %s  x=%.6g  analytic=%s  numeric=%s  "
          "abs=%.3g  rel=%.3g\n",
          indent, report.second_order_worst_case, e.input, e.index, e.x, Value(e.analytic),
          Value(e.numeric), e.abs_error, e.rel_error);
    }
  }
  // One per quantity: the first fatal problem at a finite input.
  for (const char* quantity : {"output", "derivative"}) {
    for (const FinitenessProblem& p : report.finiteness) {
      if (!p.fatal || !std::isfinite(p.x) || p.quantity != quantity) continue;
      // Already named as the worst element of the first derivative.
      if (p.quantity == "derivative" && report.worst.has_value() && !report.worst->passed &&
          report.worst->x == p.x && report.worst_derivative.has_value() &&
          !std::isfinite(*report.worst_derivative)) {
        break;
      }
      const bool output = p.quantity == "output";
      std::cout << absl::StrFormat(
          "%s%s element: extreme inputs and grids (%s), x=%.6g: %s = %s by the row, %s\n", indent,
          std::isnan(p.value) ? "NaN" : "non-finite", p.dtype, p.x, output ? "f(x)" : "f'(x)",
          Value(p.value),
          std::isnan(p.expected)
              ? std::string("no finite value near it")
              : absl::StrCat(Value(p.expected),
                             output ? " from f(x - h) and f(x + h)" : " by finite differences"));
      break;
    }
  }
}

void PrintCases(const ConformanceReport& r, bool all) {
  for (const OpCaseResult& c : r.cases.cases) {
    if (c.report.passed && !all) continue;
    std::cout << "      case " << c.description;
    if (c.redraws > 0) {
      std::cout << absl::StrFormat(" (flat, drawn again %d %s)", c.redraws,
                                   c.redraws == 1 ? "time" : "times");
    }
    if (c.uninformative) std::cout << " uninformative";
    std::cout << ": " << c.report.ToString();
  }
  if (r.grid.has_value() && (!r.grid->passed || all)) {
    std::cout << "      fixed grid: " << r.grid->ToString();
  }
  for (const OpCaseResult& c : r.second_order) {
    if (c.report.passed && !all) continue;
    std::cout << "      second order, case " << c.description << ": " << c.report.ToString();
  }
}

// The first layer of a saved network, looking through containers.
nn::Module& FirstLayer(nn::Module& module) {
  nn::Module* m = &module;
  while (m->Kind() == "sequential" && !m->NamedChildren().empty()) {
    m = m->NamedChildren()[0].second;
  }
  return *m;
}

// The rows the network is checked on: the first --rows rows of --data,
// scaled as the model scales its features, with their targets; or random
// rows of the saved width (token indices for an embedding, N(0, 1)
// otherwise).
struct ModelInput {
  Tensor x;
  std::vector<double> targets;  // empty: the random cotangent
  std::string description;
};

absl::StatusOr<ModelInput> ReadModelInput(const GradcheckFlags& flags,
                                          const nn::SavedModel& model) {
  const nn::ModelInfo& info = model.info;
  ModelInput input;
  if (!flags.data.empty()) {
    absl::StatusOr<io::Dataset> data =
        io::ReadCsv(flags.data, {.target_column = info.target_name,
                                 .target_optional = true,
                                 .no_target = info.target_name.empty(),
                                 .allow_beyond_float32 = true});
    if (!data.ok()) return data.status();
    if (!info.feature_names.empty() && data->feature_names != info.feature_names) {
      return absl::InvalidArgumentError(
          absl::StrCat(flags.data, ": its columns are not the model's features (",
                       info.feature_names.size(), " columns from \"", info.feature_names.front(),
                       "\" to \"", info.feature_names.back(), "\")"));
    }
    if (data->rows == 0) return absl::InvalidArgumentError(absl::StrCat(flags.data, ": no rows"));
    std::vector<int64_t> first;
    for (int64_t r = 0; r < std::min(flags.rows, data->rows); ++r) first.push_back(r);
    io::Dataset rows = data->Subset(first);
    input.x = rows.Features(DType::kFloat64);
    if (info.scaler.scaling() != nn::Scaling::kNone) input.x = info.scaler.Transform(input.x);
    if (info.task.has_value() && !rows.y.empty()) input.targets = rows.y;
    input.description = absl::StrCat("the first ", rows.rows, " rows of ", flags.data);
    return input;
  }
  const int64_t width = static_cast<int64_t>(info.feature_names.size());
  if (width == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        flags.model, ": the model does not say how many features it takes; pass --data"));
  }
  Generator gen(flags.seed);
  nn::Module& first = FirstLayer(*model.module);
  if (first.Kind() == "embedding") {
    const int64_t tokens = first.Config().Int("num_embeddings", 1).value_or(1);
    std::vector<double> x;
    for (int64_t i = 0; i < flags.rows * width; ++i) {
      x.push_back(double(gen.NextBelow(static_cast<uint64_t>(tokens))));
    }
    input.x = FromValues(x, Shape{flags.rows, width}, DType::kFloat64);
    input.description = absl::StrCat(flags.rows, " rows of random tokens in [0, ", tokens, ")");
  } else {
    input.x = Normal(Shape{flags.rows, width}, 0.0, 1.0, gen, DType::kFloat64);
    input.description = absl::StrCat(flags.rows, " random rows, N(0, 1)");
  }
  return input;
}

int RunModel(const GradcheckFlags& flags) {
  if (!flags.ops.empty() || !flags.sweeps.empty() || flags.second_order || flags.report) {
    std::cerr << "actgrad gradcheck: --model checks a network; --op, --sweep, --second-order "
                 "and --report are for ops\n";
    return 2;
  }
  if (!LoadPlugins(flags.plugins, "actgrad gradcheck")) return 1;
  absl::StatusOr<nn::SavedModel> model = nn::Load(flags.model);
  if (!model.ok()) {
    std::cerr << "actgrad gradcheck: " << model.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<ModelInput> input = ReadModelInput(flags, *model);
  if (!input.ok()) {
    std::cerr << "actgrad gradcheck: " << input.status().message() << "\n";
    return 1;
  }
  // Training mode unless --eval: where backward runs. The checker puts
  // the layers that draw masks in evaluation mode itself.
  model->module->Train(!flags.eval);
  ModuleCheckOptions options;
  if (flags.tolerances_given) {
    options.atol = flags.atol;
    options.rtol = flags.rtol;
  }
  options.step = flags.step;
  options.directions = flags.directions;
  options.shrink = !flags.no_shrink;
  options.seed = ModuleCheckOptions().seed + (flags.seed - 1);
  const bool sequential = dynamic_cast<nn::Sequential*>(model->module.get()) != nullptr;
  if (!input->targets.empty() && sequential) {
    options.task = model->info.task;
    options.targets = input->targets;
  }
  ModuleCheckReport report;
  try {
    report = GradCheckModule(*model->module, input->x, options);
  } catch (const Error& e) {
    std::cerr << "actgrad gradcheck: " << flags.model << ": " << e.message() << "\n";
    return 1;
  }
  const std::string mode = flags.eval ? "evaluation mode" : "training mode";
  if (flags.json) {
    absl::StatusOr<io::JsonDocument> json = io::ParseJson(report.ToJson(), flags.model);
    if (!json.ok()) {
      std::cerr << "actgrad gradcheck: " << json.status().message() << "\n";
      return 1;
    }
    auto& alloc = json->GetAllocator();
    json->AddMember("model", io::JsonValue(flags.model.c_str(), alloc), alloc);
    json->AddMember("input", io::JsonValue(input->description.c_str(), alloc), alloc);
    json->AddMember("mode", io::JsonValue(mode.c_str(), alloc), alloc);
    json->AddMember("atol", options.atol, alloc);
    json->AddMember("rtol", options.rtol, alloc);
    io::JsonWriter out(/*pretty=*/true);
    out.Value(*json);
    std::cout << out.str() << "\n";
  } else {
    std::cout << absl::StrFormat("%s: %s, %s\n", flags.model, input->description, mode);
    std::cout << report.ToString();
    std::cout << absl::StrFormat(
        "float64 copy; central differences from step %g, Richardson-extrapolated; pass when "
        "|a - n| <= %g + %g * max(|a|, |n|); seed %d\n",
        options.step, options.atol, options.rtol, flags.seed);
  }
  return report.passed ? 0 : 1;
}

int Run(const GradcheckFlags& flags) {
  if (!flags.model.empty()) return RunModel(flags);
  if (!LoadPlugins(flags.plugins, "actgrad gradcheck")) return 1;
  const OpRegistry& registry = OpRegistry::Global();
  std::vector<const OpDef*> ops;
  // Per op: the attributes --op NAME:attr=value asks for (the row's
  // defaults otherwise), for the grid, float32, finiteness and figure checks.
  std::vector<Attrs> op_attrs;
  if (flags.ops.empty()) {
    ops = registry.All();
    op_attrs.assign(ops.size(), Attrs());
  } else {
    for (const std::string& spec : flags.ops) {
      const size_t colon = spec.find(':');
      absl::StatusOr<const OpDef*> op = registry.Find(spec.substr(0, colon));
      if (!op.ok()) {
        std::cerr << "actgrad gradcheck: " << op.status().message() << "\n";
        return 2;
      }
      Attrs attrs;
      if (colon != std::string::npos) {
        if (absl::Status s = nn::ParseAttrs(**op, spec.substr(colon + 1), &attrs); !s.ok()) {
          std::cerr << "actgrad gradcheck: --op " << spec << ": " << s.message() << "\n";
          return 2;
        }
      }
      ops.push_back(*op);
      op_attrs.push_back(attrs);
    }
  }

  ConformanceOptions options;
  options.gradcheck.atol = flags.atol;
  options.gradcheck.rtol = flags.rtol;
  // --seed moves the output weighting and the Taylor direction as well as
  // the sample inputs; the default seed 1 keeps the library's default.
  options.gradcheck.seed = GradCheckOptions().seed + (flags.seed - 1);
  options.seed = flags.seed;
  options.second_order = flags.second_order;
  options.strict_infinity = flags.strict_infinity;

  int failures = 0;
  // Indented: a person reads it as often as a script does.
  io::JsonWriter json(/*pretty=*/true);
  json.BeginObject().Key("ops").BeginArray();
  for (size_t i = 0; i < ops.size(); ++i) {
    ConformanceOptions op_options = options;
    op_options.attrs = op_attrs[i];
    ConformanceReport report = CheckConformance(*ops[i], op_options);
    // The report names what was checked: "leaky_relu:alpha=0.3".
    if (!flags.ops.empty()) report.name = flags.ops[i];
    // Other attribute values: the declared range (unless --op fixed the
    // attributes) and --sweep. A derivative right only at the default fails.
    const bool attributes_given = !flags.ops.empty() && flags.ops[i].find(':') != std::string::npos;
    absl::StatusOr<std::vector<AttributeSetting>> settings =
        Settings(*ops[i], flags.sweeps, !attributes_given);
    if (!settings.ok()) {
      std::cerr << "actgrad gradcheck: " << settings.status().message() << "\n";
      return 2;
    }
    std::vector<std::pair<std::string, bool>> setting_results;
    // The reports at settings that failed, for their worst elements.
    std::vector<std::pair<std::string, ConformanceReport>> failed_settings;
    for (const AttributeSetting& setting : *settings) {
      ConformanceOptions at = op_options;
      at.attrs = setting.attrs;
      ConformanceReport other = CheckConformance(*ops[i], at);
      setting_results.emplace_back(setting.text, other.passed);
      if (!other.passed) {
        report.passed = false;
        for (const std::string& why : other.failures) {
          report.failures.push_back(absl::StrCat("at ", setting.text, ": ", why));
        }
        failed_settings.emplace_back(setting.text, std::move(other));
      }
    }
    failures += report.passed ? 0 : 1;
    if (flags.json) {
      // The report's own JSON, read back to become one element of ops[].
      absl::StatusOr<io::JsonDocument> op = io::ParseJson(ConformanceJson(report), report.name);
      if (!op.ok()) {
        std::cerr << "actgrad gradcheck: " << op.status().message() << "\n";
        return 1;
      }
      // Each other attribute setting checked, and whether it passed; a
      // failing one with its failures and worst elements.
      io::JsonValue checks(rapidjson::kArrayType);
      for (const auto& [text, passed] : setting_results) {
        io::JsonValue entry(rapidjson::kObjectType);
        entry.AddMember("attrs", io::JsonValue(text.c_str(), op->GetAllocator()),
                        op->GetAllocator());
        entry.AddMember("passed", passed, op->GetAllocator());
        for (const auto& [failed_text, other] : failed_settings) {
          if (failed_text != text) continue;
          absl::StatusOr<io::JsonDocument> at = io::ParseJson(ConformanceJson(other), text);
          if (!at.ok()) break;
          for (const char* key : {"failures", "worst", "second_order", "finiteness"}) {
            entry.AddMember(io::JsonValue(key, op->GetAllocator()),
                            io::JsonValue((*at)[key], op->GetAllocator()), op->GetAllocator());
          }
        }
        checks.PushBack(entry, op->GetAllocator());
      }
      op->AddMember("attribute_checks", checks, op->GetAllocator());
      json.Value(*op);
      continue;
    }
    if (flags.report) {
      std::cout << (i == 0 ? "" : "\n") << report.ToString();
      if (flags.verbose) PrintCases(report, true);
      continue;
    }
    std::cout << report.Summary() << "\n";
    if (!setting_results.empty()) {
      std::vector<std::string> texts;
      for (const auto& [text, passed] : setting_results) {
        texts.push_back(absl::StrCat(text, passed ? "" : " FAILED"));
      }
      std::cout << "      also at " << absl::StrJoin(texts, ", ") << "\n";
    }
    for (const std::string& why : report.failures) std::cout << "      " << why << "\n";
    PrintWorst(report);
    for (const auto& [text, other] : failed_settings)
      PrintWorst(other, absl::StrCat("at ", text, ": "));
    if (flags.verbose) PrintCases(report, true);
  }
  if (flags.json) {
    json.EndArray().EndObject();
    std::cout << json.str() << "\n";
  } else {
    std::cout << absl::StrFormat(
        "%s%d of %d ops passed (float64 central differences, atol %g, rtol %g, seed %d%s)\n",
        flags.report ? "\n" : "", ops.size() - failures, ops.size(), flags.atol, flags.rtol,
        flags.seed, flags.second_order ? ", second order" : "");
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

void AddGradcheckCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<GradcheckFlags>();
  CLI::App* sub = app.add_subcommand(
      "gradcheck",
      "Conformance report of every registered op (or those named by --op): first derivative "
      "against float64 finite differences on random inputs and, for activations, on the grid "
      "0, +-1e-3, +-0.5, +-1, +-2, +-5, +-20, +-100; the Taylor-remainder order; float32 "
      "against float64; and for activations finiteness at +-1e4, +-1e30, +-inf and NaN, range, "
      "monotonicity, f'(0), mean and saturation under N(0, 1) inputs and the Monte Carlo "
      "variance-preserving gain 1/sqrt(E[f(z)^2]). Prints one line per op (the reasons and "
      "the worst element under a failing one), the full block with --report, JSON with "
      "--json. Exits 1 when any op fails.");
  sub->add_option("--sweep", flags->sweeps,
                  "Also check ATTR at N values over [LOW, HIGH] (ATTR=LOW:HIGH[:N], N = 5 by "
                  "default; repeatable)");
  sub->add_option("--op", flags->ops,
                  "Check only this op (repeatable), at given attributes with "
                  "NAME:attr=value[,attr=value] (e.g. leaky_relu:alpha=0.3)");
  AddPluginOption(sub, &flags->plugins);
  sub->add_flag("--report", flags->report,
                "Print the full conformance block of each op instead of one line");
  sub->add_flag("--json", flags->json,
                "Print one JSON object: ops[] with name, passed, cases, elements, "
                "max_abs_error, max_rel_error, kind, taylor_order, failures, worst, grid, "
                "second_order, float32, finiteness, activation");
  sub->add_flag("--verbose", flags->verbose,
                "Also print every case's check, not only failing ones");
  sub->add_flag("--second-order", flags->second_order,
                "Also check second derivatives (double backward against finite differences of "
                "the first derivative)");
  sub->add_flag("--strict-infinity", flags->strict_infinity,
                "Fail, not warn, on NaN or a wrong-signed infinity at inputs of +-inf");
  sub->add_option("--seed", flags->seed,
                  "Seed of the sample inputs, the output weighting and the Taylor direction")
      ->capture_default_str();
  CLI::Option* atol =
      sub->add_option("--atol", flags->atol, "Absolute tolerance (with --model: 1e-08 by default)")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
  CLI::Option* rtol = sub->add_option("--rtol", flags->rtol, "Relative tolerance")
                          ->check(CLI::NonNegativeNumber)
                          ->capture_default_str();
  sub->add_option("--model", flags->model,
                  "Check a saved network (actgrad train --save) instead of the ops: random "
                  "directional derivatives in float64 over all parameters, each parameter tensor "
                  "and the input, against Richardson-extrapolated central differences; a "
                  "failure is shrunk to the smallest input that still fails");
  sub->add_option("--data", flags->data,
                  "With --model: check on the first --rows rows of this CSV file, scaled as the "
                  "model scales them, with the task's loss on its targets (default: random rows "
                  "of the model's width and a random cotangent)");
  sub->add_option("--rows", flags->rows, "With --model: rows of the input")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))
      ->capture_default_str();
  sub->add_option("--directions", flags->directions,
                  "With --model: random directions over all parameters and the input")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  sub->add_option("--step", flags->step,
                  "With --model: the first finite-difference step along a unit direction")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_flag("--no-shrink", flags->no_shrink, "With --model: report a failure unshrunk");
  sub->add_flag("--eval", flags->eval,
                "With --model: check in evaluation mode (default: training mode, with the "
                "layers that draw dropout masks in evaluation mode)");
  sub->callback([flags, exit_code, atol, rtol] {
    flags->tolerances_given = atol->count() > 0 || rtol->count() > 0;
    *exit_code = Run(*flags);
  });
}

}  // namespace actgrad::tools
