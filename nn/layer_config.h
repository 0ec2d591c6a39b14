// -----------------------------------------------------------------------------
// File: layer_config.h
// -----------------------------------------------------------------------------
//
// Reading layer options back from a saved ModuleConfig: the bounded integer
// and list readers, dtype and initializer readers that every layer kind's
// OptionsFromConfig uses, so each option is checked the same way (the
// values come from files; every size is bounded before anything is built).
//
// Example:
//
//   absl::StatusOr<std::array<int64_t, 2>> kernel =
//       actgrad::nn::SpatialList(config, "kernel", /*spatial=*/2, /*min=*/1, std::nullopt);

#ifndef ACTGRAD_NN_LAYER_CONFIG_H_
#define ACTGRAD_NN_LAYER_CONFIG_H_

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/dtype.h"
#include "nn/init.h"
#include "nn/module_config.h"

namespace actgrad::nn {

// Any extent (channels, features) a saved layer may ask for; the loader
// also compares the resulting shapes with the tensors the file holds.
inline constexpr int64_t kMaxLayerExtent = int64_t{1} << 31;
// Any kernel, stride, padding or dilation entry.
inline constexpr int64_t kMaxKernelExtent = int64_t{1} << 16;

// kInvalidArgument naming the first key of `config` not in `known`.
absl::Status OnlyKeysOf(const ModuleConfig& config, const std::vector<absl::string_view>& known);

// The integer `key` in [min, max], `fallback` when absent.
absl::StatusOr<int64_t> IntInRangeOr(const ModuleConfig& config, absl::string_view key, int64_t min,
                                     int64_t max, int64_t fallback);

// A list of `spatial` (1 or 2) integers in [min, kMaxKernelExtent], as
// [height, width]; a 1-D list fills the width and leaves the height at the
// identity value 1 (0 for min 0). Absent: every entry `fallback`, or an
// error when there is none.
absl::StatusOr<std::array<int64_t, 2>> SpatialList(const ModuleConfig& config,
                                                   absl::string_view key, int spatial, int64_t min,
                                                   std::optional<int64_t> fallback);

// "dtype": float32 (the default) or float64.
absl::StatusOr<DType> FloatDTypeOf(const ModuleConfig& config);

// The initializer `key` records (Initializer::ToString's form); nullopt
// when absent.
absl::StatusOr<std::optional<Initializer>> OptionalInitializer(const ModuleConfig& config,
                                                               absl::string_view key);

}  // namespace actgrad::nn

// Assigns the value of a StatusOr expression to `lhs`, or returns its error
// from the enclosing function.
#define ACTGRAD_CONFIG_ASSIGN(lhs, expr)                                  \
  do {                                                                    \
    auto actgrad_config_value = (expr);                                   \
    if (!actgrad_config_value.ok()) return actgrad_config_value.status(); \
    lhs = *std::move(actgrad_config_value);                               \
  } while (false)

#endif  // ACTGRAD_NN_LAYER_CONFIG_H_
