#include "nn/module_kinds.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/error.h"
#include "nn/activation.h"
#include "nn/layer_config.h"
#include "nn/layer_kinds.h"
#include "nn/linear.h"
#include "nn/lstm.h"
#include "nn/sequence_kinds.h"
#include "nn/sequential.h"
#include "ops/registry.h"

namespace actgrad::nn {

namespace {

constexpr int64_t kMaxExtent = kMaxLayerExtent;

#define ACTGRAD_ASSIGN_OR_RETURN_CONFIG(lhs, expr) \
  auto lhs##_or = (expr);                          \
  if (!lhs##_or.ok()) return lhs##_or.status();    \
  auto lhs = *std::move(lhs##_or)

ModuleKind SequentialKind() {
  return {
      .name = "sequential",
      .build = [](const ModuleConfig& config,
                  std::vector<NamedModule>& children) -> absl::StatusOr<std::unique_ptr<Module>> {
        if (absl::Status s = config.OnlyKeys({}); !s.ok()) return s;
        auto sequential = std::make_unique<Sequential>();
        for (size_t i = 0; i < children.size(); ++i) {
          if (children[i].first != absl::StrCat(i)) {
            return absl::InvalidArgumentError(
                absl::StrCat("children[", i,
                             "]: a sequential's layers are named 0, 1, ...; "
                             "found \"",
                             children[i].first, "\""));
          }
          sequential->Add(std::move(children[i].second));
        }
        return std::unique_ptr<Module>(std::move(sequential));
      },
      .takes_children = true};
}

absl::StatusOr<Initializer> ReadInitializer(const ModuleConfig& config, absl::string_view key,
                                            const Initializer& fallback) {
  absl::StatusOr<std::optional<Initializer>> init = OptionalInitializer(config, key);
  if (!init.ok()) return init.status();
  return init->value_or(fallback);
}

struct LinearConfig {
  int64_t in, out;
  bool bias;
  DType dtype;
  Initializer weight_init, bias_init;
};
absl::StatusOr<LinearConfig> ReadLinear(const ModuleConfig& config) {
  if (absl::Status s = config.OnlyKeys({"in", "out", "bias", "dtype", "weight_init", "bias_init"});
      !s.ok()) {
    return s;
  }
  ACTGRAD_ASSIGN_OR_RETURN_CONFIG(in, config.IntInRange("in", 1, kMaxExtent));
  ACTGRAD_ASSIGN_OR_RETURN_CONFIG(out, config.IntInRange("out", 1, kMaxExtent));
  ACTGRAD_ASSIGN_OR_RETURN_CONFIG(bias, config.Bool("bias", true));
  ACTGRAD_ASSIGN_OR_RETURN_CONFIG(dtype, FloatDTypeOf(config));
  ACTGRAD_ASSIGN_OR_RETURN_CONFIG(
      weight_init, ReadInitializer(config, "weight_init", Initializer::XavierUniform()));
  ACTGRAD_ASSIGN_OR_RETURN_CONFIG(bias_init,
                                  ReadInitializer(config, "bias_init", Initializer::Zeros()));
  return LinearConfig{in, out, bias, dtype, weight_init, bias_init};
}

ModuleKind LinearKind() {
  return {.name = "linear",
          .build = [](const ModuleConfig& config,
                      std::vector<NamedModule>&) -> absl::StatusOr<std::unique_ptr<Module>> {
            ACTGRAD_ASSIGN_OR_RETURN_CONFIG(c, ReadLinear(config));
            // The weights drawn here are replaced by the file's.
            Generator unused(0);
            return std::unique_ptr<Module>(
                std::make_unique<Linear>(LinearOptions{.in = c.in,
                                                       .out = c.out,
                                                       .bias = c.bias,
                                                       .weight_init = c.weight_init,
                                                       .bias_init = c.bias_init,
                                                       .dtype = c.dtype},
                                         unused));
          },
          .own_shapes = [](const ModuleConfig& config)
              -> absl::StatusOr<std::vector<std::pair<std::string, Shape>>> {
            ACTGRAD_ASSIGN_OR_RETURN_CONFIG(c, ReadLinear(config));
            std::vector<std::pair<std::string, Shape>> shapes = {{"weight", Shape{c.out, c.in}}};
            if (c.bias) shapes.emplace_back("bias", Shape{c.out});
            return shapes;
          }};
}

absl::StatusOr<LstmCellOptions> ReadLstm(const ModuleConfig& config) {
  if (absl::Status s = config.OnlyKeys({"input", "hidden", "bias", "dtype"}); !s.ok()) return s;
  ACTGRAD_ASSIGN_OR_RETURN_CONFIG(input, config.IntInRange("input", 1, kMaxExtent));
  ACTGRAD_ASSIGN_OR_RETURN_CONFIG(hidden, config.IntInRange("hidden", 1, kMaxExtent / 4));
  ACTGRAD_ASSIGN_OR_RETURN_CONFIG(bias, config.Bool("bias", true));
  ACTGRAD_ASSIGN_OR_RETURN_CONFIG(dtype, FloatDTypeOf(config));
  return LstmCellOptions{.input = input, .hidden = hidden, .bias = bias, .dtype = dtype};
}

ModuleKind LstmCellKind() {
  return {.name = "lstm_cell",
          .build = [](const ModuleConfig& config,
                      std::vector<NamedModule>&) -> absl::StatusOr<std::unique_ptr<Module>> {
            ACTGRAD_ASSIGN_OR_RETURN_CONFIG(options, ReadLstm(config));
            Generator unused(0);
            return std::unique_ptr<Module>(std::make_unique<LstmCell>(options, unused));
          },
          .own_shapes = [](const ModuleConfig& config)
              -> absl::StatusOr<std::vector<std::pair<std::string, Shape>>> {
            ACTGRAD_ASSIGN_OR_RETURN_CONFIG(o, ReadLstm(config));
            std::vector<std::pair<std::string, Shape>> shapes = {
                {"weight_ih", Shape{4 * o.hidden, o.input}},
                {"weight_hh", Shape{4 * o.hidden, o.hidden}}};
            if (o.bias) {
              shapes.emplace_back("bias_ih", Shape{4 * o.hidden});
              shapes.emplace_back("bias_hh", Shape{4 * o.hidden});
            }
            return shapes;
          }};
}

// An activation op as a layer: its declared attributes are the options.
ModuleKind ActivationKind(const OpDef& op) {
  return {
      .name = std::string(op.name),
      .build = [&op](const ModuleConfig& config,
                     std::vector<NamedModule>&) -> absl::StatusOr<std::unique_ptr<Module>> {
        Attrs attrs;
        std::vector<absl::string_view> known;
        for (const AttrSpec& spec : op.attrs) known.push_back(spec.name);
        for (const auto& [key, value] : config.entries()) {
          const AttrSpec* spec = nullptr;
          for (const AttrSpec& s : op.attrs) {
            if (s.name == key) spec = &s;
          }
          if (spec == nullptr) {
            return absl::InvalidArgumentError(absl::StrCat(
                key, ": not an attribute of ", op.name,
                known.empty() ? " (it has none)"
                              : absl::StrCat(" (it has ", absl::StrJoin(known, ", "), ")")));
          }
          if (spec->integer != nullptr) {
            ACTGRAD_ASSIGN_OR_RETURN_CONFIG(v, config.Int(key));
            attrs.*spec->integer = v;
          } else {
            ACTGRAD_ASSIGN_OR_RETURN_CONFIG(v, config.Number(key));
            *RealSlot(*spec, attrs) = v;
          }
        }
        return std::unique_ptr<Module>(std::make_unique<Activation>(op, attrs));
      },
      .own_shapes =
          [](const ModuleConfig&) -> absl::StatusOr<std::vector<std::pair<std::string, Shape>>> {
        return std::vector<std::pair<std::string, Shape>>{};
      }};
}

#undef ACTGRAD_ASSIGN_OR_RETURN_CONFIG

}  // namespace

ModuleKinds& ModuleKinds::Global() {
  static ModuleKinds* kinds = new ModuleKinds();
  return *kinds;
}

ModuleKinds::ModuleKinds() {
  for (ModuleKind kind : {SequentialKind(), LinearKind(), LstmCellKind()}) {
    kinds_.emplace(kind.name, std::move(kind));
  }
  for (ModuleKind& kind : ConvolutionalLayerKinds()) kinds_.emplace(kind.name, std::move(kind));
  for (ModuleKind& kind : SequenceLayerKinds()) kinds_.emplace(kind.name, std::move(kind));
}

void ModuleKinds::Register(ModuleKind kind) {
  ACTGRAD_REQUIRE(!kind.name.empty() && kind.build != nullptr, std::source_location::current(),
                  "ModuleKinds::Register: a kind needs a name and a factory");
  const std::string name = kind.name;
  ACTGRAD_REQUIRE(kinds_.emplace(name, std::move(kind)).second, std::source_location::current(),
                  "ModuleKinds::Register: the module kind \"", name, "\" is registered already");
}

absl::StatusOr<const ModuleKind*> ModuleKinds::Find(absl::string_view name) const {
  if (auto it = kinds_.find(name); it != kinds_.end()) return &it->second;
  absl::StatusOr<const OpDef*> op = OpRegistry::Global().Find(name);
  if (op.ok() && IsActivationLike(**op)) {
    // Built on first use: plugins register ops after start-up.
    static auto* activation_kinds = new std::map<const OpDef*, ModuleKind>();
    static auto* mutex = new std::mutex();
    std::lock_guard<std::mutex> lock(*mutex);
    auto [it, inserted] = activation_kinds->try_emplace(*op);
    if (inserted) it->second = ActivationKind(**op);
    return &it->second;
  }
  return absl::NotFoundError(absl::StrCat(
      "no module kind \"", name, "\" is registered (known: ", absl::StrJoin(Names(), ", "),
      ", and every activation op); a module of your own joins with "
      "ACTGRAD_REGISTER_MODULE_KIND, and one from a plugin needs --plugin"));
}

std::vector<std::string> ModuleKinds::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, kind] : kinds_) names.push_back(name);
  return names;
}

}  // namespace actgrad::nn
