#include "check/module_check.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <source_location>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "check/gradcheck.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/generator.h"
#include "graph/grad_mode.h"
#include "io/json.h"
#include "nn/module_kinds.h"
#include "nn/sequential.h"
#include "ops/functional.h"

namespace actgrad {

namespace {

using Location = std::source_location;

// Kinds whose presence makes dimension 1 of the input a time axis.
constexpr const char* kSequenceKinds[] = {"lstm",
                                          "gru",
                                          "multihead_attention",
                                          "transformer_encoder_layer",
                                          "positional_embedding",
                                          "last_step",
                                          "mean_over_time",
                                          "embedding"};

std::string JoinPath(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : absl::StrCat(prefix, ".", name);
}

// The module the network applies first, and its path: containers
// (sequential) are looked through.
std::pair<std::string, nn::Module*> FirstLayer(nn::Module& module) {
  std::string path;
  nn::Module* m = &module;
  while (m->Kind() == "sequential") {
    std::vector<std::pair<std::string, nn::Module*>> children = m->NamedChildren();
    if (children.empty()) break;
    path = JoinPath(path, children[0].first);
    m = children[0].second;
  }
  return {path, m};
}

// Rebuilds `module` in float64 from its kinds; `unflatten_path` names an
// Unflatten whose first size becomes `steps` (when steps > 0), which is how
// a flattened sequence is shortened.
std::unique_ptr<nn::Module> Rebuild(nn::Module& module, const std::string& path,
                                    const std::string& unflatten_path, int64_t steps,
                                    const Location& location) {
  absl::StatusOr<const nn::ModuleKind*> kind = nn::ModuleKinds::Global().Find(module.Kind());
  if (!kind.ok()) {
    ACTGRAD_THROW(location, "GradCheckModule: the module \"", path.empty() ? "(root)" : path,
                  "\" is of kind \"", module.Kind(),
                  "\", which is not registered (nn/module_kinds.h), so no float64 copy of the "
                  "network can be built");
  }
  nn::ModuleConfig config = module.Config();
  if (config.Has("dtype")) config.Set("dtype", DTypeName(DType::kFloat64));
  if (steps > 0 && path == unflatten_path) {
    absl::StatusOr<std::vector<int64_t>> sizes = config.Ints("sizes");
    if (sizes.ok() && !sizes->empty()) {
      (*sizes)[0] = steps;
      config.Set("sizes", *sizes);
    }
  }
  std::vector<nn::NamedModule> children;
  if ((*kind)->takes_children) {
    for (const auto& [name, child] : module.NamedChildren()) {
      children.emplace_back(name,
                            Rebuild(*child, JoinPath(path, name), unflatten_path, steps, location));
    }
  }
  absl::StatusOr<std::unique_ptr<nn::Module>> built = (*kind)->build(config, children);
  if (!built.ok() || *built == nullptr) {
    ACTGRAD_THROW(location, "GradCheckModule: rebuilding \"", path.empty() ? "(root)" : path,
                  "\" (", module.Kind(), ") in float64 failed: ",
                  built.ok() ? "its kind built nothing" : built.status().message());
  }
  return *std::move(built);
}

bool DrawsMasks(nn::Module& m) {
  if (m.Kind() == "dropout") return true;
  absl::StatusOr<double> p = m.Config().Number("dropout", 0.0);
  return p.ok() && *p > 0;
}

// The input a check runs on, and where its rows came from.
struct Candidate {
  std::vector<double> x;
  Shape shape;
  std::vector<int64_t> rows;  // original row of each row
  int64_t steps = 0;          // a flattened sequence's length (0: not one)
};

// A unit direction: one vector per parameter tensor (empty where it is
// zero) and one for the input.
struct Direction {
  std::vector<std::vector<double>> parameters;
  std::vector<double> input;
};

void Normalize(Direction& d) {
  double sum = 0;
  for (const auto& v : d.parameters)
    for (double e : v) sum += e * e;
  for (double e : d.input) sum += e * e;
  const double norm = std::sqrt(sum);
  if (norm == 0) return;
  for (auto& v : d.parameters)
    for (double& e : v) e /= norm;
  for (double& e : d.input) e /= norm;
}

std::vector<double> NormalVector(int64_t n, Generator& gen) {
  std::vector<double> v(static_cast<size_t>(n));
  for (double& e : v) e = gen.NextNormal();
  return v;
}

uint64_t Mix(uint64_t seed, const std::string& name) {
  uint64_t h = seed ^ 0x9e3779b97f4a7c15ull;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

class Checker {
 public:
  Checker(nn::Module& module, const ModuleCheckOptions& options, const Location& location)
      : module_(module), options_(options), location_(location) {
    for (const auto& [name, t] : module.StateDict()) {
      state_.emplace_back(name, IsFloating(t.dtype()) ? ToDType(t, DType::kFloat64) : t.Clone());
    }
    auto [path, first] = FirstLayer(module);
    indices_ = options.input_is_indices.value_or(first->Kind() == "embedding");
    for (const auto& [unused, m] : module.NamedModules()) {
      for (const char* kind : kSequenceKinds) sequence_ |= m->Kind() == kind;
    }
    if (first->Kind() == "unflatten") {
      absl::StatusOr<std::vector<int64_t>> sizes = first->Config().Ints("sizes");
      absl::StatusOr<int64_t> dim = first->Config().Int("dim");
      if (sequence_ && sizes.ok() && dim.ok() && *dim == 1 && sizes->size() == 2) {
        unflatten_path_ = path;
        flat_steps_ = (*sizes)[0];
      }
    }
  }

  // The length of the input's sequence, 0 when it is not one.
  int64_t Steps(const Candidate& c) const {
    if (!unflatten_path_.empty() && c.shape.rank() == 2) return c.steps;
    if (sequence_ && (c.shape.rank() == 3 || (indices_ && c.shape.rank() == 2))) return c.shape[1];
    return 0;
  }
  int64_t flat_steps() const { return flat_steps_; }
  int64_t evaluations() const { return evaluations_; }

  ModuleCheckReport Check(const Candidate& c);

 private:
  std::unique_ptr<nn::Module> Build(const Candidate& c);

  nn::Module& module_;
  const ModuleCheckOptions& options_;
  const Location& location_;
  nn::NamedTensors state_;
  bool indices_ = false;
  bool sequence_ = false;
  std::string unflatten_path_;
  int64_t flat_steps_ = 0;
  int64_t evaluations_ = 0;
};

std::unique_ptr<nn::Module> Checker::Build(const Candidate& c) {
  const int64_t steps = c.steps != flat_steps_ ? c.steps : 0;
  std::unique_ptr<nn::Module> copy = Rebuild(module_, "", unflatten_path_, steps, location_);
  absl::StatusOr<nn::LoadReport> loaded = copy->LoadStateDict(state_, /*strict=*/true);
  if (!loaded.ok()) {
    ACTGRAD_THROW(location_, "GradCheckModule: the float64 copy does not take the weights: ",
                  loaded.status().message());
  }
  // Pre-order, so a child's own mode wins over its parent's.
  std::vector<std::pair<std::string, nn::Module*>> from = module_.NamedModules();
  std::vector<std::pair<std::string, nn::Module*>> to = copy->NamedModules();
  for (size_t i = 0; i < from.size() && i < to.size(); ++i) {
    to[i].second->Train(from[i].second->is_training());
  }
  for (auto& [unused, m] : to) {
    if (DrawsMasks(*m)) m->Eval();
  }
  return copy;
}

ModuleCheckReport Checker::Check(const Candidate& c) {
  ModuleCheckReport report;
  report.checked_shape = c.shape;
  for (double v : c.x) report.nonzero_inputs += v != 0;
  std::unique_ptr<nn::Module> net = Build(c);
  std::vector<nn::NamedParameter> params = net->NamedParameters();
  report.parameter_tensors = static_cast<int64_t>(params.size());
  for (const nn::NamedParameter& p : params) report.parameters += p.tensor->numel();

  nn::Sequential* sequential = dynamic_cast<nn::Sequential*>(net.get());
  Tensor targets;
  if (options_.task.has_value()) {
    std::vector<double> t;
    for (int64_t r : c.rows) t.push_back(options_.targets[static_cast<size_t>(r)]);
    targets = nn::TargetTensor(*options_.task, t, DType::kFloat64);
    report.loss_name = absl::StrCat(nn::TaskName(*options_.task), " loss");
  } else {
    report.loss_name = "cotangent";
  }
  Tensor cotangent;
  auto loss_of = [&](const Tensor& x) -> Tensor {
    ++evaluations_;
    if (options_.task.has_value()) return nn::TaskLoss(*options_.task, *sequential, x, targets);
    Tensor y = (*net)(x);
    if (!cotangent.defined()) {
      // Fixed for a given output shape, so every evaluation and every
      // candidate of the same shape sees the same function.
      Generator gen(Mix(options_.seed, "cotangent"));
      cotangent = Normal(y.shape(), 0.0, 1.0, gen, DType::kFloat64);
    }
    return Sum(Mul(y, cotangent));
  };

  Tensor x = FromValues(std::span<const double>(c.x), c.shape, DType::kFloat64);
  const bool real_input = !indices_ && options_.check_input;
  if (real_input) x.set_requires_grad(true);
  net->ZeroGrad();
  std::vector<std::vector<double>> grads(params.size());
  std::vector<double> input_grad;
  {
    Tensor loss = loss_of(x);
    report.loss = loss.item();
    loss.Backward();
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor& g = params[i].tensor->grad();
      grads[i] = g.defined() ? g.ToVector() : std::vector<double>(params[i].tensor->numel(), 0.0);
    }
    if (real_input) {
      input_grad = x.grad().defined() ? x.grad().ToVector() : std::vector<double>(c.x.size(), 0.0);
    }
  }
  x = x.Detach();
  std::vector<std::vector<double>> base(params.size());
  for (size_t i = 0; i < params.size(); ++i) base[i] = params[i].tensor->ToVector();

  // L(θ + s v, x + s v_x), every perturbed tensor written back afterwards.
  auto evaluate = [&](const Direction& d, double s) {
    auto write = [](Tensor& t, const std::vector<double>& at, const std::vector<double>* v,
                    double s) {
      double* data = t.data<double>();
      for (size_t k = 0; k < at.size(); ++k) data[k] = at[k] + (v ? s * (*v)[k] : 0.0);
    };
    for (size_t i = 0; i < params.size(); ++i) {
      if (!d.parameters[i].empty()) write(*params[i].tensor, base[i], &d.parameters[i], s);
    }
    if (!d.input.empty()) write(x, c.x, &d.input, s);
    double value;
    {
      NoGradGuard no_grad;
      value = loss_of(x).item();
    }
    for (size_t i = 0; i < params.size(); ++i) {
      if (!d.parameters[i].empty()) write(*params[i].tensor, base[i], nullptr, 0);
    }
    if (!d.input.empty()) write(x, c.x, nullptr, 0);
    return value;
  };

  // L at the check's own point, for the one-sided differences.
  double at_point;
  {
    NoGradGuard no_grad;
    at_point = loss_of(x).item();
  }
  auto compare = [&](DirectionCheck check, const Direction& d) {
    double analytic = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      for (size_t k = 0; k < d.parameters[i].size(); ++k) {
        analytic += grads[i][k] * d.parameters[i][k];
      }
    }
    for (size_t k = 0; k < d.input.size(); ++k) analytic += input_grad[k] * d.input[k];
    // (h, L(θ + h v), L(θ − h v)) for every step of the ladder.
    std::vector<std::array<double, 3>> ladder;
    const double numeric = internal::RichardsonDerivative(
        [&](double h) {
          ladder.push_back({h, evaluate(d, h), evaluate(d, -h)});
          return (ladder.back()[1] - ladder.back()[2]) / (2 * h);
        },
        options_.step);
    std::sort(ladder.begin(), ladder.end());
    check.analytic = analytic;
    check.numeric = numeric;
    const double scale = std::max(std::abs(analytic), std::abs(numeric));
    // A kink at the point itself (a max-pool tie exactly there, as runs of
    // zero pixels make them): the one-sided differences disagree by a gap
    // that does not shrink with the step, where a smooth function's gap is
    // h L''. Backward returns one subgradient of many there and the central
    // difference their mean, so the direction is not compared. A wrong
    // backward on a smooth path never looks like this.
    bool kink = false;
    if (ladder.size() >= 2) {
      const auto& [h, plus, minus] = ladder[0];
      const auto& [h2, plus2, minus2] = ladder[1];
      const double gap = std::abs(plus - 2 * at_point + minus) / h;
      const double gap2 = std::abs(plus2 - 2 * at_point + minus2) / h2;
      if (gap > options_.atol + options_.rtol * scale && gap > 0.75 * gap2) {
        // Forward and backward differences, extrapolated to O(h^2).
        check.right = 2 * (plus - at_point) / h - (plus2 - at_point) / h2;
        check.left = 2 * (at_point - minus) / h - (at_point - minus2) / h2;
        kink = true;
      }
    }
    check.kink = kink;
    check.abs_error = std::abs(analytic - numeric);
    check.rel_error = scale > 0 || std::isnan(scale) ? check.abs_error / scale : 0.0;
    check.passed = kink || check.abs_error <= options_.atol + options_.rtol * scale;
    report.checks.push_back(std::move(check));
  };

  auto empty_direction = [&] {
    Direction d;
    d.parameters.resize(params.size());
    return d;
  };
  for (int k = 0; k < options_.directions; ++k) {
    Generator gen(Mix(options_.seed, absl::StrCat("all/", k)));
    Direction d = empty_direction();
    for (size_t i = 0; i < params.size(); ++i) {
      d.parameters[i] = NormalVector(params[i].tensor->numel(), gen);
    }
    if (real_input) d.input = NormalVector(static_cast<int64_t>(c.x.size()), gen);
    Normalize(d);
    compare({.tensor = "all", .shape = Shape{report.parameters + (real_input ? x.numel() : 0)}}, d);
  }
  if (options_.per_tensor) {
    for (size_t i = 0; i < params.size(); ++i) {
      Generator gen(Mix(options_.seed, params[i].name));
      Direction d = empty_direction();
      d.parameters[i] = NormalVector(params[i].tensor->numel(), gen);
      Normalize(d);
      const size_t dot = params[i].name.rfind('.');
      const std::string layer = dot == std::string::npos ? "" : params[i].name.substr(0, dot);
      std::string kind = net->Kind();
      for (const auto& [name, m] : net->NamedModules()) {
        if (name == layer) kind = m->Kind();
      }
      compare({.tensor = params[i].name,
               .layer = layer,
               .kind = kind,
               .shape = params[i].tensor->shape()},
              d);
    }
    if (real_input) {
      Generator gen(Mix(options_.seed, "input"));
      Direction d = empty_direction();
      d.input = NormalVector(static_cast<int64_t>(c.x.size()), gen);
      Normalize(d);
      compare({.tensor = "input", .shape = c.shape}, d);
    }
  }

  bool finite = std::isfinite(report.loss);
  bool failed = false;
  size_t kinks = 0;
  std::tuple<bool, int, double> worst_key = {false, -1, -1.0};
  for (size_t k = 0; k < report.checks.size(); ++k) {
    const DirectionCheck& e = report.checks[k];
    finite &= std::isfinite(e.analytic) && std::isfinite(e.numeric);
    failed |= !e.passed;
    // Failing first; among failing ones a named parameter tensor over the
    // input over "all"; then by how far outside the tolerance.
    const double badness =
        std::isfinite(e.abs_error)
            ? e.abs_error / (options_.atol +
                             options_.rtol * std::max(std::abs(e.analytic), std::abs(e.numeric)))
            : 1e300;
    if (e.kink) {
      ++kinks;
      continue;
    }
    const int category = e.tensor == "all" ? 0 : e.tensor == "input" ? 1 : 2;
    const std::tuple<bool, int, double> key = {!e.passed, e.passed ? 0 : category, badness};
    if (key > worst_key) {
      worst_key = key;
      report.worst = static_cast<int>(k);
    }
  }
  if (!finite) {
    report.verdict = "non-finite values";
  } else if (params.empty() && !real_input) {
    report.verdict = "no parameters";
  } else if (kinks == report.checks.size()) {
    report.verdict = "every direction sits on a kink";
  } else {
    report.verdict = failed ? "mismatch" : "ok";
  }
  report.passed = report.verdict == "ok";
  return report;
}

Candidate TakeRows(const Candidate& c, int64_t begin, int64_t end) {
  const int64_t width = c.shape.NumElements() / c.shape[0];
  Candidate out = c;
  out.x.assign(c.x.begin() + begin * width, c.x.begin() + end * width);
  out.rows.assign(c.rows.begin() + begin, c.rows.begin() + end);
  out.shape[0] = end - begin;
  return out;
}

// The first `steps` steps of every row: of dimension 1, or of the [T, F]
// steps a leading Unflatten makes of flat rows.
Candidate TakeSteps(const Candidate& c, int64_t steps, bool flattened) {
  Candidate out = c;
  const int64_t rows = c.shape[0];
  const int64_t old_steps = flattened ? c.steps : c.shape[1];
  const int64_t width = c.shape.NumElements() / rows;
  const int64_t per_step = width / old_steps;
  out.x.clear();
  for (int64_t r = 0; r < rows; ++r) {
    out.x.insert(out.x.end(), c.x.begin() + r * width, c.x.begin() + r * width + steps * per_step);
  }
  if (flattened) {
    out.steps = steps;
    out.shape[1] = steps * per_step;
  } else {
    out.shape[1] = steps;
  }
  return out;
}

std::string Number(double v) { return absl::StrFormat("%.9g", v); }

}  // namespace

std::string ModuleCheckReport::ToString() const {
  std::string out = absl::StrFormat(
      "%s  %s: %d directions over %d parameters in %d tensors, %s, loss %.6g, input %s\n",
      passed ? "PASS" : "FAIL", verdict, checks.size(), parameters, parameter_tensors, loss_name,
      loss, checked_shape.ToString());
  if (const DirectionCheck* w = Worst(); w != nullptr) {
    std::string where;
    if (w->tensor == "all") {
      where = w->shape[0] == parameters ? "all parameters" : "all parameters and the input";
    } else if (w->tensor == "input") {
      where = "the input";
    } else {
      where = absl::StrCat(w->tensor, " ", w->shape.ToString(), " in layer ",
                           w->layer.empty() ? "(root)" : w->layer, " (", w->kind, ")");
    }
    absl::StrAppendFormat(&out, "  worst direction: %s\n", where);
    absl::StrAppendFormat(&out,
                          "    <grad, v> = %s by backward, %s by finite differences  abs %.3g  "
                          "rel %.3g\n",
                          Number(w->analytic), Number(w->numeric), w->abs_error, w->rel_error);
  }
  if (const int64_t kinks = std::count_if(checks.begin(), checks.end(),
                                          [](const DirectionCheck& c) { return c.kink; });
      kinks > 0) {
    absl::StrAppendFormat(&out, "  %d %s on a kink (one-sided derivatives differ), not compared\n",
                          kinks, kinks == 1 ? "direction sits" : "directions sit");
  }
  if (!passed) {
    for (const DirectionCheck& c : checks) {
      if (c.passed || &c == Worst()) continue;
      absl::StrAppendFormat(&out, "  also fails: %s%s  rel %.3g\n", c.tensor,
                            c.layer.empty() ? "" : absl::StrCat(" (", c.kind, ")"), c.rel_error);
    }
  }
  if (!shrink_steps.empty() || (!passed && verdict == "mismatch")) {
    absl::StrAppendFormat(&out, "  shrunk input: %s (from %s), %d of %d elements nonzero%s\n",
                          checked_shape.ToString(), input_shape.ToString(), nonzero_inputs,
                          checked_shape.NumElements(),
                          shrink_steps.empty() ? "; nothing smaller fails" : "");
    for (const ShrinkStep& s : shrink_steps) {
      absl::StrAppendFormat(&out, "    %s: %s\n", s.what, s.shape.ToString());
    }
  }
  absl::StrAppendFormat(&out, "  %d forward passes in %.3f s\n", evaluations, seconds);
  return out;
}

std::string ModuleCheckReport::ToJson() const {
  io::JsonWriter json(/*pretty=*/true);
  json.BeginObject();
  json.Key("passed").Bool(passed).Key("verdict").String(verdict);
  json.Key("loss").Number(loss).Key("loss_name").String(loss_name);
  json.Key("parameters").Int(parameters).Key("parameter_tensors").Int(parameter_tensors);
  auto shape = [&](const Shape& s) {
    json.BeginArray();
    for (int64_t d : s.dims()) json.Int(d);
    json.EndArray();
  };
  json.Key("input_shape");
  shape(input_shape);
  json.Key("checked_shape");
  shape(checked_shape);
  json.Key("nonzero_inputs").Int(nonzero_inputs);
  json.Key("worst");
  if (const DirectionCheck* w = Worst(); w != nullptr) {
    json.BeginObject().Key("tensor").String(w->tensor).Key("layer").String(w->layer);
    json.Key("kind").String(w->kind).Key("passed").Bool(w->passed);
    json.Key("rel_error").Number(w->rel_error).EndObject();
  } else {
    json.Null();
  }
  json.Key("checks").BeginArray();
  for (const DirectionCheck& c : checks) {
    json.BeginObject().Key("tensor").String(c.tensor).Key("layer").String(c.layer);
    json.Key("kind").String(c.kind).Key("shape");
    shape(c.shape);
    json.Key("analytic").Number(c.analytic).Key("numeric").Number(c.numeric);
    json.Key("abs_error").Number(c.abs_error).Key("rel_error").Number(c.rel_error);
    json.Key("passed").Bool(c.passed).Key("kink").Bool(c.kink);
    if (c.kink) json.Key("left").Number(c.left).Key("right").Number(c.right);
    json.EndObject();
  }
  json.EndArray();
  json.Key("shrink_steps").BeginArray();
  for (const ShrinkStep& s : shrink_steps) {
    json.BeginObject().Key("what").String(s.what).Key("shape");
    shape(s.shape);
    json.EndObject();
  }
  json.EndArray();
  json.Key("evaluations").Int(evaluations).Key("seconds").Number(seconds);
  json.EndObject();
  return json.str();
}

ModuleCheckReport GradCheckModule(nn::Module& module, const Tensor& input,
                                  const ModuleCheckOptions& options) {
  const Location location = Location::current();
  const auto start = std::chrono::steady_clock::now();
  ACTGRAD_REQUIRE(input.defined() && input.rank() >= 1 && input.numel() > 0, location,
                  "GradCheckModule: the input must be a non-empty tensor with a batch dimension");
  ACTGRAD_REQUIRE(options.targets.empty() || options.task.has_value(), location,
                  "GradCheckModule: targets without a task");
  ACTGRAD_REQUIRE(
      !options.task.has_value() || static_cast<int64_t>(options.targets.size()) == input.dim(0),
      location, "GradCheckModule: ", options.targets.size(), " targets for an input of ",
      input.dim(0), " rows");
  ACTGRAD_REQUIRE(!options.task.has_value() || dynamic_cast<nn::Sequential*>(&module) != nullptr,
                  location, "GradCheckModule: a task loss needs an nn::Sequential, not a ",
                  module.Kind());
  Checker checker(module, options, location);
  Candidate current{.x = input.ToVector(), .shape = input.shape()};
  for (int64_t r = 0; r < input.dim(0); ++r) current.rows.push_back(r);
  current.steps = checker.flat_steps();

  ModuleCheckReport report = checker.Check(current);
  if (options.shrink && !report.passed && report.verdict == "mismatch") {
    int budget = options.max_shrink_checks;
    // Keeps `candidate` when the check on it still finds a mismatch. A
    // candidate the network cannot take (batch norm on one row, a sequence
    // too short for a later layer) is not a smaller failure.
    auto still_fails = [&](const Candidate& candidate, std::string what) {
      if (budget-- <= 0) return false;
      ModuleCheckReport r;
      try {
        r = checker.Check(candidate);
      } catch (const Error&) {
        return false;
      }
      if (r.passed || r.verdict != "mismatch") return false;
      std::vector<ShrinkStep> steps = std::move(report.shrink_steps);
      steps.push_back({std::move(what), candidate.shape});
      report = std::move(r);
      report.shrink_steps = std::move(steps);
      current = candidate;
      return true;
    };
    while (current.shape[0] > 1) {
      const int64_t n = current.shape[0], half = n / 2;
      const std::string what = absl::StrCat("rows ", n, " -> ", half);
      if (!still_fails(TakeRows(current, 0, half), what) &&
          !still_fails(TakeRows(current, n - half, n), what)) {
        break;
      }
    }
    const bool flattened = current.steps > 0;
    for (int64_t steps = checker.Steps(current); steps > 1; steps = checker.Steps(current)) {
      if (!still_fails(TakeSteps(current, steps / 2, flattened),
                       absl::StrCat("steps ", steps, " -> ", steps / 2))) {
        break;
      }
    }
    // Zeroed features: all at once, then blocks of the row, halving down
    // to a sixteenth of it; reported as one step.
    const size_t steps_before_zeroing = report.shrink_steps.size();
    const int64_t width = current.shape.NumElements() / current.shape[0];
    auto zeroed = [&](int64_t begin, int64_t end) {
      Candidate c = current;
      bool changed = false;
      for (int64_t r = 0; r < c.shape[0]; ++r) {
        for (int64_t j = begin; j < end; ++j) {
          double& v = c.x[static_cast<size_t>(r * width + j)];
          changed |= v != 0;
          v = 0;
        }
      }
      return std::make_pair(c, changed);
    };
    if (auto [c, changed] = zeroed(0, width);
        !changed || !still_fails(c, absl::StrCat("zeroed all ", width, " features"))) {
      for (int64_t block = width / 2; block >= std::max<int64_t>(1, width / 16); block /= 2) {
        for (int64_t begin = 0; begin < width && budget > 0; begin += block) {
          const int64_t end = std::min(width, begin + block);
          auto [candidate, changes] = zeroed(begin, end);
          if (changes) still_fails(candidate, "zeroed");
        }
      }
    }
    if (report.shrink_steps.size() > steps_before_zeroing) {
      int64_t zero_columns = 0;
      for (int64_t j = 0; j < width; ++j) {
        bool zero = true;
        for (int64_t r = 0; r < current.shape[0]; ++r) zero &= current.x[r * width + j] == 0;
        zero_columns += zero;
      }
      report.shrink_steps.resize(steps_before_zeroing);
      report.shrink_steps.push_back(
          {absl::StrCat("zeroed ", zero_columns, " of ", width, " features"), current.shape});
    }
  }
  report.input_shape = input.shape();
  report.evaluations = checker.evaluations();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace actgrad
