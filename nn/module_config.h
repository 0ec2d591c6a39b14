// -----------------------------------------------------------------------------
// File: module_config.h
// -----------------------------------------------------------------------------
//
// A module's options as named values: what Module::Config() returns so that
// a saved model can say how to rebuild each layer, and what a module kind's
// factory reads back (nn/module_kinds.h). Values are booleans, integers,
// numbers, text, or lists of integers, numbers or text; in the saved file
// they are JSON. Reading a key that is missing or holds another type is an
// error value naming the key, never an exception: the values come from
// files.
//
// Example:
//
//   actgrad::nn::ModuleConfig config;
//   config.Set("in", int64_t{30}).Set("out", int64_t{64}).Set("bias", true);
//   absl::StatusOr<int64_t> in = config.Int("in");          // 30
//   absl::StatusOr<std::string> name = config.String("in");  // "in: expected text, found an
//   integer"

#ifndef ACTGRAD_NN_MODULE_CONFIG_H_
#define ACTGRAD_NN_MODULE_CONFIG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace actgrad::nn {

class ModuleConfig {
 public:
  using Value = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>,
                             std::vector<double>, std::vector<std::string>>;

  // Sets `key`, replacing an earlier value; keys keep the order they were
  // first set in.
  ModuleConfig& Set(std::string key, Value value);
  // Exact overloads, so that a literal keeps its type: "text" is not a
  // boolean, true is not an integer and 3 is not a number.
  ModuleConfig& Set(std::string key, bool value) { return Set(std::move(key), Value(value)); }
  ModuleConfig& Set(std::string key, int value) {
    return Set(std::move(key), Value(int64_t{value}));
  }
  ModuleConfig& Set(std::string key, int64_t value) { return Set(std::move(key), Value(value)); }
  ModuleConfig& Set(std::string key, double value) { return Set(std::move(key), Value(value)); }
  ModuleConfig& Set(std::string key, const char* value) {
    return Set(std::move(key), Value(std::string(value)));
  }
  ModuleConfig& Set(std::string key, std::string value) {
    return Set(std::move(key), Value(std::move(value)));
  }

  bool Has(absl::string_view key) const { return Find(key) != nullptr; }
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }

  // kInvalidArgument "<key>: ..." when missing or of another type. An
  // integer reads as a number too.
  absl::StatusOr<bool> Bool(absl::string_view key) const;
  absl::StatusOr<int64_t> Int(absl::string_view key) const;
  absl::StatusOr<double> Number(absl::string_view key) const;
  absl::StatusOr<std::string> String(absl::string_view key) const;
  absl::StatusOr<std::vector<int64_t>> Ints(absl::string_view key) const;
  absl::StatusOr<std::vector<double>> Numbers(absl::string_view key) const;
  absl::StatusOr<std::vector<std::string>> Strings(absl::string_view key) const;

  // The same, with `fallback` when the key is absent (a present key of
  // another type is still an error).
  absl::StatusOr<bool> Bool(absl::string_view key, bool fallback) const;
  absl::StatusOr<int64_t> Int(absl::string_view key, int64_t fallback) const;
  absl::StatusOr<double> Number(absl::string_view key, double fallback) const;
  absl::StatusOr<std::string> String(absl::string_view key, std::string fallback) const;

  // An integer in [min, max]: the check every size a file asks for needs.
  absl::StatusOr<int64_t> IntInRange(absl::string_view key, int64_t min, int64_t max) const;

  // The key set, for refusing keys a kind does not know: kInvalidArgument
  // naming the first key not in `known`.
  absl::Status OnlyKeys(std::initializer_list<absl::string_view> known) const;

  bool operator==(const ModuleConfig&) const = default;

 private:
  const Value* Find(absl::string_view key) const;

  std::vector<std::pair<std::string, Value>> entries_;
};

// "a boolean", "an integer", "a number", "text", "a list of integers", ...
const char* ConfigTypeName(const ModuleConfig::Value& value);

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_MODULE_CONFIG_H_
