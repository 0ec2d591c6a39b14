// -----------------------------------------------------------------------------
// File: module_kinds.h
// -----------------------------------------------------------------------------
//
// The registry of module kinds: for each Module::Kind() a saved model may
// name, how to rebuild a module of that kind from its Config(). Built-in
// layers are registered here ("sequential", "linear", "lstm_cell", and every
// registered activation op under its own name); a user module joins with one
// line beside its definition, like an op row, and then saves and loads like
// a built-in layer (nn/model_file.h).
//
// Example: a user module that rebuilds itself from its options.
//
//   class Residual : public actgrad::nn::Module {
//    public:
//     explicit Residual(int64_t width);
//     actgrad::nn::ModuleConfig Config() const override {
//       return actgrad::nn::ModuleConfig().Set("width", width_);
//     }
//     std::string Kind() const override { return "residual"; }
//     static absl::StatusOr<std::unique_ptr<Residual>> FromConfig(
//         const actgrad::nn::ModuleConfig& config) {
//       absl::StatusOr<int64_t> width = config.IntInRange("width", 1, 1 << 20);
//       if (!width.ok()) return width.status();
//       return std::make_unique<Residual>(*width);
//     }
//     ...
//   };
//   ACTGRAD_REGISTER_MODULE_KIND(Residual, "residual");

#ifndef ACTGRAD_NN_MODULE_KINDS_H_
#define ACTGRAD_NN_MODULE_KINDS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/shape.h"
#include "nn/module.h"
#include "nn/module_config.h"

namespace actgrad::nn {

// A module and the name its parent registered it under.
using NamedModule = std::pair<std::string, std::unique_ptr<Module>>;

struct ModuleKind {
  std::string name;
  // Builds a module of this kind from its options. Containers (Sequential)
  // take the children the saved description lists, built already; every
  // other kind builds its own children in its constructor and leaves
  // `children` alone. Bad options come back as kInvalidArgument naming the
  // option ("out: -3 is outside [1, ...]").
  std::function<absl::StatusOr<std::unique_ptr<Module>>(const ModuleConfig& config,
                                                        std::vector<NamedModule>& children)>
      build;
  bool takes_children = false;
  // The shapes of the kind's own parameters and buffers (not its
  // children's) by local name, from the options alone, so that a loader can
  // compare them with the file before it allocates anything. Unset for
  // kinds whose sizes the options do not decide.
  std::function<absl::StatusOr<std::vector<std::pair<std::string, Shape>>>(const ModuleConfig&)>
      own_shapes;
};

class ModuleKinds {
 public:
  // The process-wide registry, with the built-in kinds.
  static ModuleKinds& Global();

  // Registers `kind`; throws `Error` for an empty name or one taken.
  void Register(ModuleKind kind);
  // A kind whose build is T::FromConfig(config).
  template <typename T>
  bool Register(std::string name) {
    Register(ModuleKind{.name = std::move(name),
                        .build = [](const ModuleConfig& config, std::vector<NamedModule>&)
                            -> absl::StatusOr<std::unique_ptr<Module>> {
                          auto made = T::FromConfig(config);
                          if (!made.ok()) return made.status();
                          return std::unique_ptr<Module>(*std::move(made));
                        }});
    return true;
  }

  // The kind `name`; a registered activation op is a kind of its own
  // (an nn::Activation with the op's attributes as options). kNotFound
  // lists the registered kinds.
  absl::StatusOr<const ModuleKind*> Find(absl::string_view name) const;
  std::vector<std::string> Names() const;

 private:
  ModuleKinds();
  std::map<std::string, ModuleKind, std::less<>> kinds_;
};

}  // namespace actgrad::nn

#define ACTGRAD_MODULE_KIND_CONCAT_INNER(a, b) a##b
#define ACTGRAD_MODULE_KIND_CONCAT(a, b) ACTGRAD_MODULE_KIND_CONCAT_INNER(a, b)
// Registers the module class `Type` under `kind` (Type::Kind() must return
// it) with Type::FromConfig as its factory, when the program starts.
#define ACTGRAD_REGISTER_MODULE_KIND(Type, kind)                                                 \
  [[maybe_unused]] static const bool ACTGRAD_MODULE_KIND_CONCAT(actgrad_module_kind_registered_, \
                                                                __LINE__) =                      \
      ::actgrad::nn::ModuleKinds::Global().Register<Type>(kind)

#endif  // ACTGRAD_NN_MODULE_KINDS_H_
