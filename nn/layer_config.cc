#include "nn/layer_config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace actgrad::nn {

absl::Status OnlyKeysOf(const ModuleConfig& config, const std::vector<absl::string_view>& known) {
  for (const auto& [key, value] : config.entries()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat(key, ": not an option of this kind (it has ",
                                                     absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> IntInRangeOr(const ModuleConfig& config, absl::string_view key, int64_t min,
                                     int64_t max, int64_t fallback) {
  if (!config.Has(key)) return fallback;
  return config.IntInRange(key, min, max);
}

absl::StatusOr<std::array<int64_t, 2>> SpatialList(const ModuleConfig& config,
                                                   absl::string_view key, int spatial, int64_t min,
                                                   std::optional<int64_t> fallback) {
  const int64_t identity = min == 0 ? 0 : 1;
  if (!config.Has(key)) {
    if (!fallback) return absl::InvalidArgumentError(absl::StrCat(key, ": missing"));
    return std::array<int64_t, 2>{spatial == 1 ? identity : *fallback, *fallback};
  }
  absl::StatusOr<std::vector<int64_t>> values = config.Ints(key);
  if (!values.ok()) return values.status();
  if (int(values->size()) != spatial) {
    return absl::InvalidArgumentError(absl::StrCat(
        key, ": needs ", spatial, " value", spatial == 1 ? "" : "s", ", found ", values->size()));
  }
  for (int64_t v : *values) {
    if (v < min || v > kMaxKernelExtent) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, ": ", v, " is outside [", min, ", ", kMaxKernelExtent, "]"));
    }
  }
  if (spatial == 1) return std::array<int64_t, 2>{identity, (*values)[0]};
  return std::array<int64_t, 2>{(*values)[0], (*values)[1]};
}

absl::StatusOr<DType> FloatDTypeOf(const ModuleConfig& config) {
  absl::StatusOr<std::string> name = config.String("dtype", "float32");
  if (!name.ok()) return name.status();
  if (*name == DTypeName(DType::kFloat32)) return DType::kFloat32;
  if (*name == DTypeName(DType::kFloat64)) return DType::kFloat64;
  return absl::InvalidArgumentError(
      absl::StrCat("dtype: \"", *name, "\" is not float32 or float64"));
}

absl::StatusOr<std::optional<Initializer>> OptionalInitializer(const ModuleConfig& config,
                                                               absl::string_view key) {
  if (!config.Has(key)) return std::optional<Initializer>();
  absl::StatusOr<std::string> text = config.String(key);
  if (!text.ok()) return text.status();
  absl::StatusOr<Initializer> init = Initializer::FromString(*text);
  if (!init.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", init.status().message()));
  }
  return std::optional<Initializer>(*init);
}

}  // namespace actgrad::nn
