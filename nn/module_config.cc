#include "nn/module_config.h"

#include <algorithm>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace actgrad::nn {

namespace {

template <typename T>
constexpr const char* kTypeName = "";
template <>
constexpr const char* kTypeName<bool> = "a boolean";
template <>
constexpr const char* kTypeName<int64_t> = "an integer";
template <>
constexpr const char* kTypeName<double> = "a number";
template <>
constexpr const char* kTypeName<std::string> = "text";
template <>
constexpr const char* kTypeName<std::vector<int64_t>> = "a list of integers";
template <>
constexpr const char* kTypeName<std::vector<double>> = "a list of numbers";
template <>
constexpr const char* kTypeName<std::vector<std::string>> = "a list of text";

bool IsEmptyList(const ModuleConfig::Value& value) {
  if (const auto* ints = std::get_if<std::vector<int64_t>>(&value)) return ints->empty();
  if (const auto* numbers = std::get_if<std::vector<double>>(&value)) return numbers->empty();
  if (const auto* texts = std::get_if<std::vector<std::string>>(&value)) return texts->empty();
  return false;
}

absl::Status Missing(absl::string_view key) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": missing"));
}

template <typename T>
absl::StatusOr<T> Get(const ModuleConfig::Value* value, absl::string_view key) {
  if (value == nullptr) return Missing(key);
  if (const T* held = std::get_if<T>(value)) return *held;
  // An integer is a number; a list of integers a list of numbers (JSON
  // writes 2.0 as 2).
  if constexpr (std::is_same_v<T, double>) {
    if (const int64_t* i = std::get_if<int64_t>(value)) return static_cast<double>(*i);
  }
  if constexpr (std::is_same_v<T, std::vector<double>>) {
    if (const auto* ints = std::get_if<std::vector<int64_t>>(value)) {
      return std::vector<double>(ints->begin(), ints->end());
    }
  }
  // An empty list has no element type of its own.
  if constexpr (std::is_same_v<T, std::vector<int64_t>> || std::is_same_v<T, std::vector<double>> ||
                std::is_same_v<T, std::vector<std::string>>) {
    const bool empty_list = IsEmptyList(*value);
    if (empty_list) return T{};
  }
  return absl::InvalidArgumentError(
      absl::StrCat(key, ": expected ", kTypeName<T>, ", found ", ConfigTypeName(*value)));
}

}  // namespace

const char* ConfigTypeName(const ModuleConfig::Value& value) {
  return std::visit([](const auto& v) { return kTypeName<std::decay_t<decltype(v)>>; }, value);
}

ModuleConfig& ModuleConfig::Set(std::string key, Value value) {
  for (auto& [existing, held] : entries_) {
    if (existing == key) {
      held = std::move(value);
      return *this;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
  return *this;
}

const ModuleConfig::Value* ModuleConfig::Find(absl::string_view key) const {
  for (const auto& [existing, value] : entries_) {
    if (existing == key) return &value;
  }
  return nullptr;
}

absl::StatusOr<bool> ModuleConfig::Bool(absl::string_view key) const {
  return Get<bool>(Find(key), key);
}
absl::StatusOr<int64_t> ModuleConfig::Int(absl::string_view key) const {
  return Get<int64_t>(Find(key), key);
}
absl::StatusOr<double> ModuleConfig::Number(absl::string_view key) const {
  return Get<double>(Find(key), key);
}
absl::StatusOr<std::string> ModuleConfig::String(absl::string_view key) const {
  return Get<std::string>(Find(key), key);
}
absl::StatusOr<std::vector<int64_t>> ModuleConfig::Ints(absl::string_view key) const {
  return Get<std::vector<int64_t>>(Find(key), key);
}
absl::StatusOr<std::vector<double>> ModuleConfig::Numbers(absl::string_view key) const {
  return Get<std::vector<double>>(Find(key), key);
}
absl::StatusOr<std::vector<std::string>> ModuleConfig::Strings(absl::string_view key) const {
  return Get<std::vector<std::string>>(Find(key), key);
}

absl::StatusOr<bool> ModuleConfig::Bool(absl::string_view key, bool fallback) const {
  return Has(key) ? Bool(key) : fallback;
}
absl::StatusOr<int64_t> ModuleConfig::Int(absl::string_view key, int64_t fallback) const {
  return Has(key) ? Int(key) : fallback;
}
absl::StatusOr<double> ModuleConfig::Number(absl::string_view key, double fallback) const {
  return Has(key) ? Number(key) : fallback;
}
absl::StatusOr<std::string> ModuleConfig::String(absl::string_view key,
                                                 std::string fallback) const {
  return Has(key) ? String(key) : fallback;
}

absl::StatusOr<int64_t> ModuleConfig::IntInRange(absl::string_view key, int64_t min,
                                                 int64_t max) const {
  absl::StatusOr<int64_t> value = Int(key);
  if (!value.ok()) return value.status();
  if (*value < min || *value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": ", *value, " is outside [", min, ", ", max, "]"));
  }
  return *value;
}

absl::Status ModuleConfig::OnlyKeys(std::initializer_list<absl::string_view> known) const {
  for (const auto& [key, value] : entries_) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat(key, ": not an option of this kind (it takes ",
                                                     absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace actgrad::nn
