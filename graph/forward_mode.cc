#include "graph/forward_mode.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "graph/accumulate.h"
#include "graph/backward.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "graph/tensor_impl.h"

namespace actgrad {
namespace internal {

// Tangents by storage: a row's saved values and the engine's aliases share
// their tensor's storage but not its handle, and forward over reverse must
// find the tangent of a value that reaches a backward as a saved alias.
// Storage is never shared by tensors of different values (views are whole
// buffers), so the storage names the value. Holding the primal keeps its
// storage, and so the key, from being reused while the scope lives.
class TangentTable {
 public:
  struct Entry {
    Tensor primal;
    Tensor tangent;
  };

  const Entry* Find(const Tensor& t) const {
    auto it = entries_.find(t.impl()->storage);
    return it == entries_.end() ? nullptr : &it->second;
  }
  bool Insert(const Tensor& primal, Tensor tangent) {
    return entries_.try_emplace(primal.impl()->storage, Entry{primal, std::move(tangent)}).second;
  }

  bool record = false;

 private:
  absl::flat_hash_map<const Storage*, Entry> entries_;
};

bool RecordsTangents(const TangentTable& table) { return table.record; }

namespace {

// The entry's tangent in the shape of `t`: a tensor sharing the storage in
// another shape (a reshape) has the same values, and so the same tangent.
Tensor TangentInShapeOf(const Tensor& t, const TangentTable::Entry& entry) {
  const Tensor& tangent = entry.tangent;
  if (tangent.shape() == t.shape()) return tangent;
  if (tangent.numel() != t.numel()) return Tensor();
  tangent.impl()->storage->Ref();
  return Tensor(TensorImpl::Make(tangent.impl()->storage, t.shape(), tangent.dtype()));
}

bool IsDifferentiableInput(const OpDef& op, size_t i) {
  return i >= 32 || ((op.non_differentiable >> i) & 1u) == 0;
}

// A detached alias: the same values, without the graph behind them.
Tensor Cut(const Tensor& t) { return t.defined() ? t.Detach() : t; }

// J·t from the row's recorded backward: dx(u) = Jᵀu is linear in u, so
// J·t = ∂/∂u <dx(u), t>, one reverse pass from dx back to u per input.
Tensor TransposedBackward(const OpDef& op, std::span<const Tensor> inputs, const Tensor& output,
                          std::span<const Tensor> extras, std::span<const Tensor> tangents,
                          const Attrs& attrs, bool record, const std::source_location& location) {
  const size_t n = inputs.size();
  // Unless the tangent is to be differentiated again, the reverse pass
  // should stop at u, not run through the graph that made the inputs.
  std::vector<Tensor> cut_inputs(inputs.begin(), inputs.end());
  std::vector<Tensor> cut_extras(extras.begin(), extras.end());
  Tensor cut_output = output;
  if (!record) {
    for (Tensor& t : cut_inputs) t = Cut(t);
    for (Tensor& t : cut_extras) t = Cut(t);
    cut_output = Cut(output);
  }
  Tensor u = Zeros(output.shape(), output.dtype());
  u.set_requires_grad(true);
  absl::InlinedVector<bool, 8> needs_grad(n);
  for (size_t i = 0; i < n; ++i) needs_grad[i] = tangents[i].defined();
  const std::vector<Tensor> dx = RunRowBackward(op, cut_inputs, cut_output, cut_extras, attrs, u,
                                                needs_grad, /*recorded=*/true, location);
  Tensor result;
  for (size_t i = 0; i < n; ++i) {
    if (!needs_grad[i] || !dx[i].defined() || !dx[i].requires_grad()) continue;
    std::vector<Tensor> grads =
        RunBackward(dx[i], tangents[i], {.retain_graph = true, .create_graph = record}, location,
                    std::span<const Tensor>(&u, 1));
    if (!grads[0].defined()) continue;
    result = result.defined() ? Apply(kGradAccumulate, {result, grads[0]}, {}, location)
                              : std::move(grads[0]);
  }
  return result.defined() ? result : Zeros(output.shape(), output.dtype());
}

}  // namespace

Tensor ComputeTangent(const OpDef& op, std::span<const Tensor> inputs, const Tensor& output,
                      std::span<const Tensor> extras, std::span<const Tensor> tangents,
                      const Attrs& attrs, bool record, const std::source_location& location) {
  const bool recording = record && IsGradEnabled();
  GradModeGuard mode(recording);
  switch (transposed_jvp_only ? JvpSource::kTransposedBackward : JvpSourceOf(op)) {
    case JvpSource::kRow: {
      JvpContext ctx(op, inputs, output, tangents, attrs, location);
      return op.jvp(ctx);
    }
    case JvpSource::kDiagonal: {
      const bool needs_grad[1] = {true};
      std::vector<Tensor> dx = RunRowBackward(op, inputs, output, extras, attrs, tangents[0],
                                              needs_grad, recording, location);
      return dx[0].defined() ? std::move(dx[0]) : Zeros(output.shape(), output.dtype());
    }
    case JvpSource::kTransposedBackward:
      return TransposedBackward(op, inputs, output, extras, tangents, attrs, recording, location);
  }
  return Tensor();
}

bool LookUpTangents(const TangentTable& table, const OpDef& op, std::span<const Tensor> inputs,
                    std::span<Tensor> tangents) {
  bool any = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!IsDifferentiableInput(op, i) || !IsFloating(inputs[i].dtype())) continue;
    const TangentTable::Entry* entry = table.Find(inputs[i]);
    if (entry == nullptr) continue;
    tangents[i] = TangentInShapeOf(inputs[i], *entry);
    any |= tangents[i].defined();
  }
  return any;
}

void SetTangent(TangentTable& table, const OpDef& op, const Tensor& output, Tensor tangent,
                const std::source_location& location) {
  ACTGRAD_REQUIRE(
      tangent.defined() && tangent.shape() == output.shape() && tangent.dtype() == output.dtype(),
      location, op.name, ": its Jacobian-vector product gave a tangent of ",
      tangent.defined() ? tangent.shape().ToString() : "nothing", " ",
      tangent.defined() ? DTypeName(tangent.dtype()) : "", " for an output of ",
      output.shape().ToString(), " ", DTypeName(output.dtype()));
  // An output that shares an input's storage (a reshape) already has its
  // tangent under that storage, equal to this one.
  table.Insert(output, std::move(tangent));
}

}  // namespace internal

ForwardAdScope::ForwardAdScope(std::source_location location) {
  ACTGRAD_REQUIRE(internal::forward_ad == nullptr, location,
                  "ForwardAdScope: a forward-mode scope is already open on this thread; "
                  "scopes do not nest");
  table_ = new internal::TangentTable();
  internal::forward_ad = table_;
}

ForwardAdScope::~ForwardAdScope() {
  internal::forward_ad = nullptr;
  delete table_;
}

void ForwardAdScope::set_record_tangents(bool record) { table_->record = record; }

Tensor MakeDual(const Tensor& primal, const Tensor& tangent, std::source_location location) {
  internal::TangentTable* table = internal::forward_ad;
  ACTGRAD_REQUIRE(table != nullptr, location,
                  "MakeDual: needs an open ForwardAdScope on this thread");
  ACTGRAD_REQUIRE(primal.defined() && tangent.defined(), location,
                  "MakeDual: the primal and the tangent must be defined");
  ACTGRAD_REQUIRE(primal.shape() == tangent.shape() && primal.dtype() == tangent.dtype() &&
                      IsFloating(primal.dtype()),
                  location,
                  "MakeDual: the tangent must have the primal's shape and floating dtype, "
                  "got a primal of ",
                  primal.shape().ToString(), " ", DTypeName(primal.dtype()), " and a tangent of ",
                  tangent.shape().ToString(), " ", DTypeName(tangent.dtype()));
  ACTGRAD_REQUIRE(table->Insert(primal, tangent), location, "MakeDual: the primal of ",
                  primal.shape().ToString(), " already carries a tangent in this scope");
  return primal;
}

Tensor TangentOf(const Tensor& t) {
  const internal::TangentTable* table = internal::forward_ad;
  if (table == nullptr || !t.defined()) return Tensor();
  const internal::TangentTable::Entry* entry = table->Find(t);
  return entry == nullptr ? Tensor() : internal::TangentInShapeOf(t, *entry);
}

JvpSource JvpSourceOf(const OpDef& op) {
  if (op.jvp != nullptr) return JvpSource::kRow;
  if (op.max_inputs == 1 && (op.kind == OpKind::kActivation || op.kind == OpKind::kElementwise)) {
    return JvpSource::kDiagonal;
  }
  return JvpSource::kTransposedBackward;
}

const char* JvpSourceName(JvpSource source) {
  switch (source) {
    case JvpSource::kRow:
      return "row";
    case JvpSource::kDiagonal:
      return "diagonal (backward)";
    case JvpSource::kTransposedBackward:
      return "transposed backward";
  }
  return "?";
}

}  // namespace actgrad
