// -----------------------------------------------------------------------------
// File: registry.h
// -----------------------------------------------------------------------------
//
// The runtime op registry: the built-in rows, plus rows that user code and
// plugins register at run time through the same door. Everything that wants
// to cover "every op" — the table-driven tests, the benchmarks, `actgrad
// gradcheck` — iterates over it. Registration is explicit (no static
// initializers), and a row must outlive the registry.
//
// Example:
//
//   const actgrad::OpRegistry& registry = actgrad::OpRegistry::Global();
//   for (const actgrad::OpDef* op : registry.Activations()) {
//     std::cout << op->name << ": " << op->formula << "\n";
//   }
//   absl::StatusOr<const actgrad::OpDef*> tanh = registry.Find("tanh");

#ifndef ACTGRAD_OPS_REGISTRY_H_
#define ACTGRAD_OPS_REGISTRY_H_

#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/op_def.h"

namespace actgrad {

class OpRegistry {
 public:
  // The process-wide registry, holding the built-in rows on first use.
  static OpRegistry& Global();

  // Adds `op`. Returns kAlreadyExists when the name is taken and
  // kInvalidArgument when the row lacks a name, forward or backward.
  absl::Status Register(const OpDef& op);

  // The row named `name`, or kNotFound whose message suggests the closest
  // registered names.
  absl::StatusOr<const OpDef*> Find(absl::string_view name) const;

  // Every row, in registration order (built-ins first).
  std::vector<const OpDef*> All() const;
  // The rows of kind OpKind::kActivation, in registration order.
  std::vector<const OpDef*> Activations() const;

 private:
  OpRegistry();

  mutable std::mutex mutex_;
  std::vector<const OpDef*> ops_;
  absl::flat_hash_map<std::string, const OpDef*> by_name_;
};

}  // namespace actgrad

#endif  // ACTGRAD_OPS_REGISTRY_H_
