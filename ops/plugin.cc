#include "ops/plugin.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/error.h"
#include "ops/check_cases.h"
#include "ops/crash_report.h"
#include "ops/registry.h"

namespace actgrad {

namespace {

// A definition and the row made from it, kept together so that the row's
// string views and spans stay valid.
struct OwnedTensorOp {
  TensorOpDefinition definition;
  std::vector<AttrSpec> attr_specs;
  OpDef row;
};

// Rows by slot. A slot is filled once, before its row can be reached, and
// `num_slots` published after it: the kernels look their row up without a
// lock.
std::array<std::atomic<const OwnedTensorOp*>, kMaxTensorOps> slots;
std::atomic<int> num_slots{0};

std::mutex& OwnedMutex() {
  static auto* mutex = new std::mutex();
  return *mutex;
}

// Each slot's row has its own check_cases function (see SlotCases), which
// also finds copies of the row that checkers make.
const OwnedTensorOp* FindOwned(const OpDef& op);

const OwnedTensorOp& OwnedOrThrow(const OpDef& op, const std::source_location& location) {
  const OwnedTensorOp* owned = FindOwned(op);
  ACTGRAD_REQUIRE(owned != nullptr, location, op.name, ": is not a row made by MakeTensorOp");
  return *owned;
}

std::vector<Shape> ShapesOf(std::span<const Tensor> tensors) {
  std::vector<Shape> shapes;
  for (const Tensor& t : tensors) shapes.push_back(t.shape());
  return shapes;
}

std::string DescribeShapes(std::span<const Shape> shapes) {
  return absl::StrJoin(shapes, " and ",
                       [](std::string* out, const Shape& s) { out->append(s.ToString()); });
}

// The rule, with whatever it throws turned into a status: it is the
// plugin's code.
absl::StatusOr<Shape> RunShapeRule(const OwnedTensorOp& owned, std::span<const Shape> inputs,
                                   const Attrs& attrs) {
  const internal::FormulaScope running(owned.row, "shape rule");
  try {
    return owned.definition.shape(inputs, WithDefaults(owned.row, attrs));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("its shape rule threw: ", e.what()));
  }
}

Tensor TensorOpForward(ForwardContext& ctx) {
  const OpDef& op = ctx.op();
  const OwnedTensorOp& owned = OwnedOrThrow(op, ctx.location());
  const DType dtype = ctx.input(0).dtype();
  for (const Tensor& x : ctx.inputs()) {
    ACTGRAD_REQUIRE(IsFloating(x.dtype()) && x.dtype() == dtype, ctx.location(), op.name,
                    ": takes floating inputs of one dtype, got ",
                    absl::StrJoin(ctx.inputs(), " and ", [](std::string* out, const Tensor& t) {
                      out->append(DTypeName(t.dtype()));
                    }));
  }
  const std::vector<Shape> shapes = ShapesOf(ctx.inputs());
  const absl::StatusOr<Shape> expected = RunShapeRule(owned, shapes, ctx.attrs());
  if (!expected.ok()) {
    ACTGRAD_THROW(ctx.location(), op.name, ": ", DescribeShapes(shapes), ": ",
                  expected.status().message());
  }
  Tensor y;
  {
    const internal::FormulaScope running(op, "forward");
    try {
      y = owned.definition.forward(ctx);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      ACTGRAD_THROW(ctx.location(), op.name, ": its forward threw: ", e.what());
    }
  }
  ACTGRAD_REQUIRE(y.defined() && y.shape() == *expected && y.dtype() == dtype, ctx.location(),
                  op.name, ": its forward gave ",
                  y.defined() ? absl::StrCat(y.shape().ToString(), " ", DTypeName(y.dtype()))
                              : std::string("no tensor"),
                  " for ", DescribeShapes(shapes), " where its shape rule says ",
                  expected->ToString(), " ", DTypeName(dtype));
  return y;
}

// The row's backward and, recorded, its backward_graph.
void TensorOpBackward(BackwardContext& ctx) {
  const OpDef& op = ctx.op();
  const OwnedTensorOp& owned = OwnedOrThrow(op, ctx.location());
  {
    const internal::FormulaScope running(op, "backward");
    try {
      owned.definition.backward(ctx);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      ACTGRAD_THROW(ctx.location(), op.name, ": its backward threw: ", e.what());
    }
  }
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.needs_grad(i)) continue;
    const Tensor& dx = ctx.dx(i);
    ACTGRAD_REQUIRE(dx.defined() && dx.shape() == ctx.input_shape(i), ctx.location(), op.name,
                    ": its backward gave ", dx.defined() ? dx.shape().ToString() : "nothing",
                    " as the gradient of input ", i, ", which is ", ctx.input_shape(i).ToString());
  }
}

// Shapes near `base`: each distinct extent redrawn in [1, 5], the same way
// wherever it appears, so that inputs whose extents must agree still do.
std::vector<Shape> Perturbed(const std::vector<Shape>& base, Generator& gen) {
  std::map<int64_t, int64_t> redrawn;
  std::vector<Shape> out;
  for (const Shape& s : base) {
    Shape shape = s;
    for (int a = 0; a < shape.rank(); ++a) {
      auto [it, fresh] = redrawn.try_emplace(shape[a], 0);
      if (fresh) it->second = 1 + static_cast<int64_t>(gen.NextBelow(5));
      shape[a] = it->second;
    }
    out.push_back(shape);
  }
  return out;
}

std::vector<Shape> RandomShapes(int num_inputs, Generator& gen) {
  const int rank = 1 + static_cast<int>(gen.NextBelow(3));
  Shape shape;
  for (int a = 0; a < rank; ++a) shape.PushBack(1 + static_cast<int64_t>(gen.NextBelow(4)));
  return std::vector<Shape>(num_inputs, shape);
}

// The declared example shapes and two more the shape rule accepts, drawn
// near them (or at random without examples). Small, because the second-
// order check differentiates once per element.
std::vector<GradCheckCase> TensorOpCases(const OwnedTensorOp& owned, Generator& gen) {
  constexpr int64_t kMaxElements = 48;
  constexpr int kDrawn = 2;
  constexpr int kAttempts = 60;
  const TensorOpDefinition& d = owned.definition;
  std::vector<std::vector<Shape>> chosen(d.example_shapes.begin(), d.example_shapes.end());
  int drawn = 0;
  for (int attempt = 0; attempt < kAttempts && drawn < kDrawn; ++attempt) {
    std::vector<Shape> shapes =
        d.example_shapes.empty()
            ? RandomShapes(d.num_inputs, gen)
            : Perturbed(d.example_shapes[attempt % d.example_shapes.size()], gen);
    int64_t elements = 0;
    for (const Shape& s : shapes) elements += s.NumElements();
    if (elements > kMaxElements || absl::c_linear_search(chosen, shapes)) continue;
    if (!RunShapeRule(owned, shapes, {}).ok()) continue;
    chosen.push_back(std::move(shapes));
    ++drawn;
  }
  std::vector<GradCheckCase> cases;
  for (const std::vector<Shape>& shapes : chosen) {
    GradCheckCase c{.description = DescribeShapes(shapes), .kinks = d.kinks};
    for (const Shape& s : shapes) {
      c.inputs.push_back(internal::RandomDouble(s, d.check_low, d.check_high, gen));
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

// OpDef::check_cases takes no row, so each slot has a function of its own.
template <int kSlot>
std::vector<GradCheckCase> SlotCases(Generator& gen) {
  return TensorOpCases(*slots[kSlot].load(std::memory_order_acquire), gen);
}

template <int... kSlots>
constexpr auto MakeSlotCases(std::integer_sequence<int, kSlots...>) {
  return std::array<std::vector<GradCheckCase> (*)(Generator&), sizeof...(kSlots)>{
      &SlotCases<kSlots>...};
}

constexpr auto kSlotCases = MakeSlotCases(std::make_integer_sequence<int, kMaxTensorOps>());

const OwnedTensorOp* FindOwned(const OpDef& op) {
  const int n = num_slots.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    if (op.check_cases == kSlotCases[i]) return slots[i].load(std::memory_order_relaxed);
  }
  return nullptr;
}

absl::Status CheckName(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("an op needs a name");
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return absl::InvalidArgumentError(
          absl::StrCat("op name \"", name, "\" holds '", std::string(1, c),
                       "'; names are letters, digits and underscores"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDefinition(const TensorOpDefinition& d) {
  if (absl::Status s = CheckName(d.name); !s.ok()) return s;
  if (d.shape == nullptr || d.forward == nullptr || d.backward == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor op \"", d.name, "\" needs a shape rule, a forward and a backward"));
  }
  if (d.num_inputs < 1 || d.num_inputs > kMaxSavedInputs) {
    return absl::InvalidArgumentError(absl::StrCat("tensor op \"", d.name, "\" takes ",
                                                   d.num_inputs, " inputs; 1 to ", kMaxSavedInputs,
                                                   " are supported"));
  }
  if (d.params.size() > static_cast<size_t>(Attrs::kMaxParams)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor op \"", d.name, "\" has ",
                                                   d.params.size(), " parameters; at most ",
                                                   Attrs::kMaxParams, " are supported"));
  }
  for (const std::vector<Shape>& shapes : d.example_shapes) {
    if (shapes.size() != static_cast<size_t>(d.num_inputs)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor op \"", d.name, "\": the example ",
                                                     DescribeShapes(shapes), " has ", shapes.size(),
                                                     " shapes for ", d.num_inputs, " inputs"));
    }
  }
  if (!(d.check_low < d.check_high)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor op \"", d.name, "\": check_low must be below check_high"));
  }
  return absl::OkStatus();
}

}  // namespace

const OpDef& MakeTensorOp(TensorOpDefinition definition, std::source_location location) {
  if (absl::Status s = CheckDefinition(definition); !s.ok()) {
    ACTGRAD_THROW(location, "MakeTensorOp: ", s.message());
  }
  static auto* owned_rows = new std::deque<OwnedTensorOp>();
  std::lock_guard<std::mutex> lock(OwnedMutex());
  const int slot = num_slots.load(std::memory_order_relaxed);
  ACTGRAD_REQUIRE(slot < kMaxTensorOps, location, "MakeTensorOp: ", definition.name,
                  ": a process holds at most ", kMaxTensorOps, " tensor ops");
  OwnedTensorOp& owned = owned_rows->emplace_back();
  owned.definition = std::move(definition);
  const TensorOpDefinition& d = owned.definition;
  owned.attr_specs = ParamAttrSpecs(d.params);
  owned.row = OpDef{
      .name = d.name,
      .formula = d.formula,
      .kind = OpKind::kLayer,
      .min_inputs = d.num_inputs,
      .max_inputs = d.num_inputs,
      .saves = kSaveAllInputs | kSaveOutput,
      .forward = &TensorOpForward,
      .backward = &TensorOpBackward,
      .backward_graph = &TensorOpBackward,
      .jvp = d.jvp,
      .attrs = owned.attr_specs,
      .kinks = d.kinks,
      .check_cases = kSlotCases[slot],
  };
  slots[slot].store(&owned, std::memory_order_relaxed);
  num_slots.store(slot + 1, std::memory_order_release);
  return owned.row;
}

absl::StatusOr<const OpDef*> DefineTensorOp(TensorOpDefinition definition) {
  if (absl::Status s = CheckDefinition(definition); !s.ok()) return s;
  if (OpRegistry::Global().Find(definition.name).ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("an op named \"", definition.name, "\" is already registered"));
  }
  const OpDef& row = MakeTensorOp(std::move(definition));
  if (absl::Status s = OpRegistry::Global().Register(row); !s.ok()) return s;
  return &row;
}

const TensorOpDefinition* TensorOpDefinitionOf(const OpDef& op) {
  const OwnedTensorOp* owned = FindOwned(op);
  return owned != nullptr ? &owned->definition : nullptr;
}

absl::StatusOr<Shape> TensorOpOutputShape(const OpDef& op, std::span<const Shape> inputs,
                                          const Attrs& attrs) {
  const OwnedTensorOp* owned = FindOwned(op);
  if (owned == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(op.name, " is not a tensor op"));
  }
  if (inputs.size() != static_cast<size_t>(owned->definition.num_inputs)) {
    return absl::InvalidArgumentError(absl::StrCat(op.name, " takes ", owned->definition.num_inputs,
                                                   " inputs, not ", inputs.size()));
  }
  return RunShapeRule(*owned, inputs, attrs);
}

absl::StatusOr<std::vector<const OpDef*>> LoadPlugin(const std::string& path,
                                                     const PluginLoadOptions& options) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat("plugin ", path, ": no such file"));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("plugin ", path, ": not a regular file"));
  }
  // The same file (by device and inode, whatever it is called) loads once;
  // a second request gets the ops of the first.
  static auto* loaded = new std::map<std::pair<dev_t, ino_t>, std::vector<const OpDef*>>();
  static auto* loaded_mutex = new std::mutex();
  std::lock_guard<std::mutex> lock(*loaded_mutex);
  if (auto it = loaded->find({info.st_dev, info.st_ino}); it != loaded->end()) return it->second;
  // dlopen searches the library path for a bare name, never the current
  // directory, where the file was found above.
  const std::string open_path = path.find('/') == std::string::npos ? "./" + path : path;
  // RTLD_LOCAL keeps the plugin's symbols to itself; it shares this
  // library (and so the registry) through its own dependency on it.
  void* handle = dlopen(open_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::InvalidArgumentError(absl::StrCat("plugin ", path,
                                                   ": cannot be loaded as a shared library (",
                                                   why != nullptr ? why : "unknown reason", ")"));
  }
  using AbiVersionFn = int (*)();
  using RegisterFn = void (*)(PluginRegistrar*);
  auto abi_version = reinterpret_cast<AbiVersionFn>(dlsym(handle, "actgrad_plugin_abi_version"));
  auto register_fn = reinterpret_cast<RegisterFn>(dlsym(handle, "actgrad_plugin_register"));
  if (abi_version == nullptr || register_fn == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plugin ", path, ": missing entry point ",
        abi_version == nullptr ? "actgrad_plugin_abi_version" : "actgrad_plugin_register",
        " (define it with ACTGRAD_PLUGIN from ops/plugin.h)"));
  }
  if (const int version = abi_version(); version != kPluginAbiVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("plugin ", path, ": built for plugin ABI version ", version,
                     ", this actgrad has version ", kPluginAbiVersion, "; rebuild the plugin"));
  }
  PluginRegistrar registrar;
  try {
    register_fn(&registrar);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("plugin ", path, ": its registration threw: ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat("plugin ", path, ": its registration threw"));
  }

  // Everything is checked before anything is registered, so a failing plugin
  // leaves the registry as it was.
  std::set<std::string> names;
  for (const ActivationDefinition& d : registrar.definitions()) {
    if (!d.name.empty()) {
      if (absl::Status s = CheckName(d.name); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("plugin ", path, ": ", s.message()));
      }
    }
    if (d.name.empty() ||
        (d.generic == nullptr && (d.forward == nullptr || d.derivative == nullptr))) {
      return absl::InvalidArgumentError(
          absl::StrCat("plugin ", path, ": activation \"", d.name,
                       "\" needs a name, and a generic formula or a forward formula and a "
                       "derivative"));
    }
    if (OpRegistry::Global().Find(d.name).ok() || !names.insert(d.name).second) {
      return absl::AlreadyExistsError(absl::StrCat("plugin ", path, ": op name \"", d.name,
                                                   "\" clashes with an op already registered"));
    }
  }
  for (const TensorOpDefinition& d : registrar.tensor_ops()) {
    if (absl::Status s = CheckDefinition(d); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("plugin ", path, ": ", s.message()));
    }
    if (OpRegistry::Global().Find(d.name).ok() || !names.insert(d.name).second) {
      return absl::AlreadyExistsError(absl::StrCat("plugin ", path, ": op name \"", d.name,
                                                   "\" clashes with an op already registered"));
    }
  }
  if (!registrar.tensor_ops().empty() && options.verify_tensor_op == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("plugin ", path, ": its tensor op \"", registrar.tensor_ops().front().name,
                     "\" must be verified before it is registered; load it with "
                     "PluginLoadOptions::verify_tensor_op (the actgrad CLI checks its gradients)"));
  }
  std::vector<const OpDef*> tensor_ops;
  for (TensorOpDefinition& d : registrar.tensor_ops()) {
    const OpDef& row = MakeTensorOp(std::move(d));
    internal::SetPluginOf(row, path);
    absl::Status verified;
    try {
      verified = options.verify_tensor_op(row);
    } catch (const std::exception& e) {
      verified = absl::InternalError(absl::StrCat("its check threw: ", e.what()));
    }
    if (!verified.ok()) {
      return absl::Status(verified.code(), absl::StrCat("plugin ", path, ": tensor op \"", row.name,
                                                        "\" is refused: ", verified.message()));
    }
    tensor_ops.push_back(&row);
  }

  std::vector<const OpDef*> ops;
  for (ActivationDefinition& d : registrar.definitions()) {
    absl::StatusOr<const OpDef*> op = DefineActivation(std::move(d));
    if (!op.ok()) return op.status();
    internal::SetPluginOf(**op, path);
    ops.push_back(*op);
  }
  for (const OpDef* row : tensor_ops) {
    if (absl::Status s = OpRegistry::Global().Register(*row); !s.ok()) return s;
    ops.push_back(row);
  }
  loaded->emplace(std::pair{info.st_dev, info.st_ino}, ops);
  return ops;
}

}  // namespace actgrad
