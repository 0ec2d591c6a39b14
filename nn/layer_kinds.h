// -----------------------------------------------------------------------------
// File: layer_kinds.h
// -----------------------------------------------------------------------------
//
// The module kinds of the convolutional layers (convolution, pooling,
// normalization, dropout, flatten, residual), which the registry of
// nn/module_kinds.h starts with. Each reads and bounds its options with the
// layer's own OptionsFromConfig and reports its parameter shapes before
// anything is allocated.
//
// Example:
//
//   for (actgrad::nn::ModuleKind& kind : actgrad::nn::ConvolutionalLayerKinds()) {
//     std::cout << kind.name << "\n";  // conv1d, conv2d, ...
//   }

#ifndef ACTGRAD_NN_LAYER_KINDS_H_
#define ACTGRAD_NN_LAYER_KINDS_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nn/module_kinds.h"

namespace actgrad::nn {

std::vector<ModuleKind> ConvolutionalLayerKinds();

namespace internal {

// A kind whose options `read` parses and bounds (a StatusOr<Options> from
// a config), `make` builds from (a std::unique_ptr<Module> from the
// options), and `shapes` sizes (the parameter shapes from the options),
// so that a file's shapes are checked before anything is allocated.
template <typename Options, typename Read, typename Make, typename ShapesFn>
ModuleKind OptionsKind(std::string name, Read read, Make make, ShapesFn shapes) {
  using Shapes = std::vector<std::pair<std::string, Shape>>;
  return {
      .name = std::move(name),
      .build = [read, make](const ModuleConfig& config,
                            std::vector<NamedModule>&) -> absl::StatusOr<std::unique_ptr<Module>> {
        absl::StatusOr<Options> options = read(config);
        if (!options.ok()) return options.status();
        return make(*options);
      },
      .own_shapes = [read, shapes](const ModuleConfig& config) -> absl::StatusOr<Shapes> {
        absl::StatusOr<Options> options = read(config);
        if (!options.ok()) return options.status();
        return shapes(*options);
      }};
}

}  // namespace internal

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_LAYER_KINDS_H_
