// Apply(): runs an op row and records it in the graph.

#include <algorithm>
#include <cmath>

#include "absl/base/attributes.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_join.h"
#include "graph/anomaly.h"
#include "graph/forward_mode.h"
#include "graph/grad_mode.h"
#include "graph/graph.h"
#include "graph/op_def.h"
#include "graph/profile_hooks.h"

namespace actgrad {

namespace {

// A value kept for backward. Outputs of recorded ops are kept as aliases cut
// from the graph, so that a node never keeps its own graph alive; leaves and
// constants are kept as they are.
internal::SavedValue Save(const Tensor& t) {
  internal::TensorImpl* impl = t.impl();
  if (impl->graph == nullptr) {
    impl->Ref();
    return {impl, internal::kNoNode};
  }
  impl->storage->Ref();
  return {internal::TensorImpl::Make(impl->storage, impl->shape, impl->dtype), impl->node};
}

// Under anomaly detection: the first op whose output is not finite stops the
// run, unless an input already was (then the trouble started earlier).
void CheckForAnomaly(const OpDef& op, std::span<const Tensor> inputs, const Tensor& y,
                     const std::source_location& location) {
  const std::string output = internal::DescribeNonFinite(y);
  if (output.empty()) return;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string input = internal::DescribeNonFinite(inputs[i]);
    if (!input.empty()) {
      ACTGRAD_THROW(location, "anomaly: input ", i, " of ", op.name,
                    internal::layer_path.empty() ? "" : " in layer ", internal::layer_path,
                    " is already not finite: ", input,
                    "; it came from outside the recorded ops (data or parameters)");
    }
  }
  ACTGRAD_THROW(location, "anomaly: ", op.name, internal::layer_path.empty() ? "" : " in layer ",
                internal::layer_path, " produced ", output, " from finite inputs ",
                internal::DescribeShapes(inputs));
}

bool IsDifferentiable(const OpDef& op, size_t i) {
  return i >= 32 || ((op.non_differentiable >> i) & 1u) == 0;
}

}  // namespace

namespace internal {

std::string DescribeShapes(std::span<const Tensor> tensors) {
  return absl::StrJoin(tensors, " and ", [](std::string* out, const Tensor& t) {
    out->append(t.shape().ToString());
  });
}

}  // namespace internal

const LayerAttrs& Attrs::Layer() const {
  static const LayerAttrs* defaults = new LayerAttrs();
  return layer != nullptr ? *layer : *defaults;
}

LayerAttrs& Attrs::MutableLayer() {
  if (layer == nullptr || layer.use_count() > 1) {
    layer = std::make_shared<LayerAttrs>(layer != nullptr ? *layer : LayerAttrs());
  }
  // Made here, non-const, and owned by this Attrs alone.
  return const_cast<LayerAttrs&>(*layer);
}

Attrs WithDefaults(const OpDef& op, const Attrs& attrs) {
  Attrs resolved = attrs;
  for (const AttrSpec& spec : op.attrs) {
    if (spec.param >= 0 && std::isnan(resolved.params[spec.param])) {
      resolved.params[spec.param] = spec.default_value;
    }
  }
  return resolved;
}

void ForwardContext::SaveExtra(Tensor value) {
  ACTGRAD_REQUIRE(num_extras_ < static_cast<int>(extras_.size()), location_, op_.name,
                  ": an op can save at most ", extras_.size(), " extra values");
  extras_[num_extras_++] = std::move(value);
}

namespace {

// The messages of a misused Apply(), out of line so that the common path
// stays small.
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE void ThrowInputCount(const OpDef& op, int n,
                                                          const std::source_location& location) {
  ACTGRAD_THROW(location, op.name, ": takes ",
                op.min_inputs == op.max_inputs ? absl::StrCat(op.min_inputs)
                                               : absl::StrCat(op.min_inputs, " or more"),
                " inputs, got ", n);
}
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE void ThrowUndefinedInput(
    const OpDef& op, int i, const std::source_location& location) {
  ACTGRAD_THROW(location, op.name, ": input ", i, " is undefined");
}

// The forward alone: ops that call other ops inside their forward must not
// record them.
Tensor RunForward(const OpDef& op, ForwardContext& ctx) {
  if (!IsGradEnabled()) return op.forward(ctx);
  GradModeGuard values_only(false);
  return op.forward(ctx);
}

// Apply() for a call that is recorded, profiled or checked for anomalies.
ABSL_ATTRIBUTE_NOINLINE Tensor ApplyObserved(const OpDef& op, std::span<const Tensor> inputs,
                                             const Attrs& attrs,
                                             const std::source_location& location, bool record,
                                             OpObserver* observer, ForwardContext& ctx) {
  const int n = static_cast<int>(inputs.size());
  const int64_t started = observer != nullptr ? internal::ObserverClockNs() : 0;
  Tensor y = RunForward(op, ctx);
  const int64_t computed = observer != nullptr ? internal::ObserverClockNs() : 0;
  if (internal::detect_anomaly) [[unlikely]]
    CheckForAnomaly(op, inputs, y, location);
  if (!record) {
    if (observer != nullptr) [[unlikely]] {
      internal::ReportForward(*observer, op, inputs, y, attrs, nullptr, internal::kNoNode, started,
                              started, computed, internal::ObserverClockNs());
    }
    return y;
  }

  internal::Graph* graph = internal::Graph::ForRecording(inputs, location);
  // Leaf accumulators are created before the node so that creation order
  // stays a topological order.
  absl::InlinedVector<uint32_t, 4> input_nodes(n, internal::kNoNode);
  for (int i = 0; i < n; ++i) {
    internal::TensorImpl* impl = inputs[i].impl();
    if (!impl->requires_grad || !IsDifferentiable(op, i)) continue;
    input_nodes[i] = impl->graph != nullptr ? impl->node : graph->LeafNode(impl);
  }
  const uint32_t id = graph->AddNode(op, attrs, y.shape(), y.dtype(), location);
  for (uint32_t input : input_nodes) graph->AddEdge(id, input);

  internal::Node& node = graph->node(id);
  node.num_inputs = static_cast<uint16_t>(n);
  int slot = 0;
  const bool saves_all = op.saves & kSaveAllInputs;
  ACTGRAD_REQUIRE(!saves_all || n <= kMaxSavedInputs, location, op.name, ": saves more than ",
                  kMaxSavedInputs, " inputs");
  for (int i = 0, last = saves_all ? n : std::min(n, 3); i < last; ++i) {
    if (saves_all || (op.saves & (kSaveInput0 << i))) {
      node.saved_input_slot[i] = static_cast<int8_t>(slot);
      node.saved[slot++] = Save(inputs[i]);
    }
  }
  if (op.saves & kSaveOutput) {
    node.saved_output_slot = static_cast<int8_t>(slot);
    // The forward's output is seen by this thread alone: unless it aliases
    // an input or its storage, its counts are this thread's to change.
    internal::Storage* storage = y.impl()->storage;
    if (y.impl()->refs.load(std::memory_order_relaxed) == 1 && storage->use_count() == 1) {
      storage->RefUnshared();
    } else {
      storage->Ref();
    }
    node.saved[slot++] = {internal::TensorImpl::Make(y.impl()->storage, y.shape(), y.dtype()), id};
  }
  if (!ctx.extras().empty()) node.first_extra_slot = static_cast<int8_t>(slot);
  for (Tensor& extra : ctx.extras()) {
    ACTGRAD_REQUIRE(slot < kMaxSaved, location, op.name, ": saves more than ", kMaxSaved,
                    " values");
    node.saved[slot++] = Save(extra);
  }
  node.num_saved = static_cast<uint8_t>(slot);

  if (internal::detect_anomaly) [[unlikely]]
    graph->SetLayer(id, internal::layer_path);
  internal::TensorImpl* out = y.impl();
  out->graph = graph;
  out->node = id;
  out->requires_grad = true;
  graph->Ref();
  if (observer != nullptr) [[unlikely]] {
    internal::ReportForward(*observer, op, inputs, y, attrs, graph, id, started, started, computed,
                            internal::ObserverClockNs());
  }
  return y;
}

// Apply() in forward mode: the output's tangent is computed beside it. The
// scope is suspended meanwhile, so that ops run inside the row or its
// tangent rule compute values only.
ABSL_ATTRIBUTE_NOINLINE Tensor ApplyWithTangents(const OpDef& op, std::span<const Tensor> inputs,
                                                 const Attrs& attrs,
                                                 const std::source_location& location,
                                                 bool record) {
  internal::SuspendForwardAd suspended;
  internal::TangentTable& table = *suspended.table();
  OpObserver* observer = internal::ActiveObserver();
  ForwardContext ctx(op, inputs, attrs, location);
  absl::InlinedVector<Tensor, 4> tangents(inputs.size());
  const bool any_tangent = internal::LookUpTangents(
      table, op, inputs, std::span<Tensor>(tangents.data(), tangents.size()));
  Tensor y = record || observer != nullptr || internal::detect_anomaly
                 ? ApplyObserved(op, inputs, attrs, location, record, observer, ctx)
                 : RunForward(op, ctx);
  if (!any_tangent || !IsFloating(y.dtype())) return y;
  Tensor tangent = internal::ComputeTangent(op, inputs, y, ctx.extras(), tangents, attrs,
                                            internal::RecordsTangents(table), location);
  internal::SetTangent(table, op, y, std::move(tangent), location);
  return y;
}

}  // namespace

Tensor Apply(const OpDef& op, std::span<const Tensor> inputs, const Attrs& attrs,
             std::source_location location) {
  const int n = static_cast<int>(inputs.size());
  if (n < op.min_inputs || (op.max_inputs != OpDef::kVariadic && n > op.max_inputs)) [[unlikely]]
    ThrowInputCount(op, n, location);
  bool record = false;
  for (int i = 0; i < n; ++i) {
    if (!inputs[i].defined()) [[unlikely]]
      ThrowUndefinedInput(op, i, location);
    record |= inputs[i].requires_grad() && IsDifferentiable(op, i);
  }
  record &= IsGradEnabled();
  if (internal::forward_ad != nullptr) [[unlikely]]
    return ApplyWithTangents(op, inputs, attrs, location, record);
  OpObserver* observer = internal::ActiveObserver();
  ForwardContext ctx(op, inputs, attrs, location);
  if (record || observer != nullptr || internal::detect_anomaly) {
    return ApplyObserved(op, inputs, attrs, location, record, observer, ctx);
  }
  return RunForward(op, ctx);
}

}  // namespace actgrad

namespace actgrad {

namespace {

[[noreturn]] void ThrowNotSaved(const OpDef& op, const std::string& what,
                                const std::source_location& location) {
  ACTGRAD_THROW(location, op.name, ": backward asked for ", what,
                ", which the op's row does not save");
}

}  // namespace

const Tensor& BackwardContext::saved_input(int i) const {
  if (i < 0 || i >= kMaxSavedInputs || saved_input_slot_[i] < 0) {
    ThrowNotSaved(*op_, absl::StrCat("input ", i), *location_);
  }
  return saved_[saved_input_slot_[i]];
}

const Tensor& BackwardContext::saved_output() const {
  if (saved_output_slot_ < 0) ThrowNotSaved(*op_, "the output", *location_);
  return saved_[saved_output_slot_];
}

const Tensor& BackwardContext::extra(int k) const {
  if (first_extra_slot_ < 0 || first_extra_slot_ + k >= num_saved_) {
    ThrowNotSaved(*op_, absl::StrCat("extra value ", k), *location_);
  }
  return saved_[first_extra_slot_ + k];
}

}  // namespace actgrad
