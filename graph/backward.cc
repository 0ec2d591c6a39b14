#include "graph/backward.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/container/inlined_vector.h"
#include "graph/accumulate.h"
#include "graph/anomaly.h"
#include "graph/grad_mode.h"
#include "graph/graph.h"
#include "graph/profile_hooks.h"

namespace actgrad {
namespace internal {

// Fills a BackwardContext from a node; the context's fields are private to
// keep op rows from depending on how nodes are stored.
struct BackwardAccess {
  // With `hand_over`, the node's references to its saved values move to the
  // context and the node is marked freed: its last sweep need not count them
  // up here and down again in Graph::FreeNode (atomic operations both).
  static void Fill(BackwardContext& ctx, Graph* recording, bool hand_over, Node& node,
                   const Attrs& attrs, const std::source_location& location, Tensor& dy,
                   std::span<Tensor> dx, std::span<const bool> needs_grad,
                   std::span<const Shape> input_shapes, std::span<const DType> input_dtypes,
                   const Graph* leaf_graph, std::span<const uint32_t> input_ids,
                   std::span<Tensor> leaf_grads, std::span<bool> added) {
    ctx.op_ = node.op;
    ctx.dy_ = &dy;
    ctx.attrs_ = &attrs;
    ctx.location_ = &location;
    for (int i = 0; i < node.num_saved; ++i) {
      const SavedValue& saved = node.saved[i];
      if (recording != nullptr && saved.node != kNoNode) {
        // Back in the graph, at the node that produced it, so that what the
        // backward computes from it is differentiable.
        TensorImpl* v = saved.value;
        v->storage->Ref();
        TensorImpl* linked = TensorImpl::Make(v->storage, v->shape, v->dtype);
        linked->graph = recording;
        linked->node = saved.node;
        linked->requires_grad = true;
        recording->Ref();
        ctx.saved_[i] = Tensor(linked);
      } else if (hand_over) {
        ctx.saved_[i] = Tensor(saved.value);
      } else {
        saved.value->Ref();
        ctx.saved_[i] = Tensor(saved.value);
      }
    }
    for (int i = 0; i < kMaxSavedInputs; ++i) ctx.saved_input_slot_[i] = node.saved_input_slot[i];
    ctx.saved_output_slot_ = node.saved_output_slot;
    ctx.first_extra_slot_ = node.first_extra_slot;
    ctx.num_saved_ = node.num_saved;
    if (hand_over) {
      for (int i = 0; i < node.num_saved; ++i) node.saved[i].value = nullptr;
      node.num_saved = 0;
      node.freed = true;
    }
    ctx.dx_ = dx;
    ctx.needs_grad_ = needs_grad;
    ctx.input_shapes_ = input_shapes;
    ctx.input_dtypes_ = input_dtypes;
    ctx.leaf_graph_ = leaf_graph;
    ctx.takeable_dy_ = leaf_graph != nullptr ? &dy : nullptr;
    ctx.input_ids_ = input_ids;
    ctx.leaf_grads_ = leaf_grads;
    ctx.added_ = added;
  }

  // The same from values at hand rather than a node: every input that fits,
  // the output, then the extras, as Apply() would have saved them had the
  // row asked for all of them.
  static void FillFromValues(BackwardContext& ctx, const OpDef& op, std::span<const Tensor> inputs,
                             const Tensor& output, std::span<const Tensor> extras,
                             const Attrs& attrs, const std::source_location& location,
                             const Tensor& dy, std::span<Tensor> dx,
                             std::span<const bool> needs_grad, std::span<const Shape> input_shapes,
                             std::span<const DType> input_dtypes) {
    ctx.op_ = &op;
    ctx.dy_ = &dy;
    ctx.attrs_ = &attrs;
    ctx.location_ = &location;
    const int room = kMaxSaved - 1 - static_cast<int>(extras.size());
    const int kept = std::min({static_cast<int>(inputs.size()), kMaxSavedInputs, room});
    int slot = 0;
    for (int i = 0; i < kept; ++i) {
      ctx.saved_input_slot_[i] = static_cast<int8_t>(slot);
      ctx.saved_[slot++] = inputs[i];
    }
    ctx.saved_output_slot_ = static_cast<int8_t>(slot);
    ctx.saved_[slot++] = output;
    if (!extras.empty()) ctx.first_extra_slot_ = static_cast<int8_t>(slot);
    for (const Tensor& extra : extras) ctx.saved_[slot++] = extra;
    ctx.num_saved_ = slot;
    ctx.dx_ = dx;
    ctx.needs_grad_ = needs_grad;
    ctx.input_shapes_ = input_shapes;
    ctx.input_dtypes_ = input_dtypes;
  }
};

namespace {

// Per-thread scratch, reused by every sweep so that the sweep itself does not
// allocate per node.
struct SweepScratch {
  std::vector<Tensor> dx;
  std::vector<bool> needs_grad_bits;
  // Copies, not pointers into the node store: a recorded backward grows it.
  std::vector<Shape> input_shapes;
  std::vector<DType> input_dtypes;
  std::vector<Tensor> leaf_grads;
};

SweepScratch& Scratch() {
  thread_local SweepScratch scratch;
  return scratch;
}

bool OwnedOnlyHere(const Tensor& t) {
  return t.impl()->refs.load(std::memory_order_relaxed) == 1 &&
         t.impl()->storage->use_count() == 1 && t.impl()->graph == nullptr;
}

// The gradient `leaf` holds, when a backward may add into it in place
// (BackwardContext::gradient_to_add_into): it exists, only the leaf holds it
// and its storage, it is not in a graph, and no hook would see the gradient
// on its way there. Undefined otherwise.
Tensor GradientToAddInto(const Node& input) {
  const TensorImpl* leaf = input.leaf;
  if (leaf == nullptr || leaf->hooks != nullptr || input.has_hooks) return Tensor();
  TensorImpl* grad = leaf->grad;
  if (grad == nullptr || grad->refs.load(std::memory_order_relaxed) != 1 ||
      grad->storage->use_count() != 1 || grad->graph != nullptr) {
    return Tensor();
  }
  grad->Ref();
  return Tensor(grad);
}

// Adds `dx` into a gradient slot, in place when nothing else can see the
// slot's buffer; as a recorded add when the backward is being recorded.
void Accumulate(Tensor& slot, Tensor dx, bool recording) {
  if (!slot.defined()) {
    slot = std::move(dx);
  } else if (recording) {
    slot = Apply(kGradAccumulate, {slot, dx});
  } else if (OwnedOnlyHere(slot)) {
    AddInPlace(slot, dx);
  } else {
    Tensor sum = slot.Clone();
    AddInPlace(sum, dx);
    slot = std::move(sum);
  }
}

Tensor RunHooks(const std::vector<GradHook>& hooks, Tensor grad, const char* what,
                const std::source_location& location) {
  for (const GradHook& hook : hooks) {
    Tensor replaced = hook(grad);
    if (!replaced.defined()) continue;
    ACTGRAD_REQUIRE(replaced.shape() == grad.shape() && replaced.dtype() == grad.dtype(), location,
                    "gradient hook on ", what, ": returned ", replaced.shape().ToString(), " ",
                    DTypeName(replaced.dtype()), " for a gradient of ", grad.shape().ToString(),
                    " ", DTypeName(grad.dtype()));
    grad = std::move(replaced);
  }
  return grad;
}

void AccumulateIntoLeaf(TensorImpl* leaf, Tensor grad, bool recording,
                        const std::source_location& location) {
  if (leaf->hooks != nullptr) grad = RunHooks(*leaf->hooks, std::move(grad), "a leaf", location);
  if (recording) {
    // A recorded gradient stays in the graph; the sum is recorded too.
    Tensor sum = std::move(grad);
    if (leaf->grad != nullptr) {
      leaf->grad->Ref();
      const Tensor previous(leaf->grad);
      sum = Apply(kGradAccumulate, {previous, sum});
      leaf->grad->Unref();  // the leaf's own reference, replaced below
    }
    leaf->grad = sum.impl();
    leaf->grad->Ref();
    return;
  }
  if (leaf->grad == nullptr) {
    Tensor owned = OwnedOnlyHere(grad) ? std::move(grad) : grad.Clone();
    leaf->grad = owned.impl();
    leaf->grad->Ref();
    return;
  }
  leaf->grad->Ref();  // Taken over by the handle below.
  AddInPlace(Tensor(leaf->grad), grad);
}

}  // namespace

std::vector<Tensor> RunBackward(const Tensor& root, const Tensor& seed_in,
                                const BackwardOptions& options,
                                const std::source_location& location,
                                std::span<const Tensor> captured) {
  // The checks, the seed and the sweep's ordering, before any node runs.
  std::optional<ProfileScope> setup(std::in_place, "backward.setup");
  ACTGRAD_REQUIRE(root.defined(), location, "backward: the tensor is undefined");
  ACTGRAD_REQUIRE(root.requires_grad(), location, "backward: the tensor of shape ",
                  root.shape().ToString(),
                  " does not require a gradient (no input of the ops that made it requires "
                  "one, or it was computed under NoGradGuard)");
  TensorImpl* impl = root.impl();
  Graph* graph = impl->graph;
  const char* producer = graph != nullptr ? graph->node(impl->node).op->name.data() : "a leaf";
  Tensor seed;
  if (!seed_in.defined()) {
    ACTGRAD_REQUIRE(root.numel() == 1, location,
                    "backward: a seed gradient is needed for the non-scalar output of ", producer,
                    " with shape ", root.shape().ToString(),
                    "; reduce it first (Sum, Mean) or pass a seed of that shape");
    seed = Tensor(NewUninitialized(root.shape(), root.dtype()));
    DispatchFloating(root.dtype(), [&](auto tag) {
      using T = decltype(tag);
      *seed.data<T>() = T{1};
    });
  } else {
    ACTGRAD_REQUIRE(seed_in.shape() == root.shape() && seed_in.dtype() == root.dtype(), location,
                    "backward: the seed gradient is ", seed_in.shape().ToString(), " ",
                    DTypeName(seed_in.dtype()), " but the output of ", producer, " is ",
                    root.shape().ToString(), " ", DTypeName(root.dtype()));
    seed = seed_in;
  }

  const bool recording = options.create_graph;
  GradModeGuard mode(recording);
  std::vector<Tensor> results(captured.size());
  if (graph == nullptr) {
    bool taken = false;
    for (size_t k = 0; k < captured.size(); ++k) {
      if (captured[k].impl() == impl) results[k] = seed, taken = true;
    }
    if (!taken && captured.empty()) AccumulateIntoLeaf(impl, std::move(seed), recording, location);
    return results;
  }
  // The node standing for each captured tensor in this graph, if any.
  absl::InlinedVector<uint32_t, 4> capture_nodes;
  for (const Tensor& t : captured) {
    ACTGRAD_REQUIRE(t.defined(), location, "grad: an input tensor is undefined");
    const TensorImpl* c = t.impl();
    uint32_t node = kNoNode;
    if (c->graph == graph) {
      node = c->node;
    } else if (c->graph == nullptr && c->leaf_epoch == graph->epoch()) {
      node = c->leaf_node;
    }
    capture_nodes.push_back(node);
  }

  const uint32_t root_id = impl->node;
  SweepScratch& scratch = Scratch();
  std::vector<Tensor>& grads = graph->grad_slots();
  if (grads.size() < root_id + 1) grads.resize(root_id + 1);
  absl::Cleanup clear_slots = [&grads, root_id] {
    for (uint32_t v = 0; v <= root_id; ++v) grads[v] = Tensor();
  };
  grads[root_id] = std::move(seed);

  // Backwards may add parameter gradients straight into the leaves' own
  // (BackwardContext::gradient_to_add_into), except where each gradient must
  // be seen on its own: a recorded backward, Grad()'s captures, anomaly
  // checks.
  const bool add_in_place = !recording && captured.empty() && !detect_anomaly;
  const bool frees_nodes = !options.retain_graph && !recording;
  setup.reset();
  OpObserver* observer = ActiveObserver();
  for (uint32_t v = root_id + 1; v-- > 0;) {
    // Pruned by the gradients themselves: only a swept node fills its inputs'
    // slots, so an empty slot is a node that does not reach the root (or one
    // whose consumers sent it no gradient).
    if (!grads[v].defined()) continue;
    const int64_t started = observer != nullptr ? ObserverClockNs() : 0;
    Tensor dy = std::move(grads[v]);
    if (graph->node(v).has_hooks) {
      const OpDef* hooked = graph->node(v).op;
      dy = RunHooks(*graph->hooks(v), std::move(dy),
                    hooked != nullptr ? hooked->name.data() : "a leaf", location);
    }
    // Read after the hooks, which may record ops and grow the store.
    Node& node = graph->node(v);
    for (size_t k = 0; k < capture_nodes.size(); ++k) {
      if (capture_nodes[k] == v) results[k] = dy;
    }
    // Capturing leaves every leaf's grad() alone.
    if (node.leaf != nullptr && !captured.empty()) continue;
    if (node.leaf != nullptr) {
      AccumulateIntoLeaf(node.leaf, std::move(dy), recording, location);
      if (observer != nullptr) [[unlikely]] {
        const int64_t done = ObserverClockNs();
        ReportBackward(*observer, *graph, v, started, started, started, done);
      }
      continue;
    }
    ACTGRAD_REQUIRE(!recording || node.op->backward_graph != nullptr, location,
                    "backward: ", node.op->name, " (created at ", FormatLocation(node.location),
                    ") has no recordable backward, so create_graph cannot differentiate "
                    "through it twice");
    ACTGRAD_REQUIRE(!node.freed, location, "backward: the saved values of ", node.op->name,
                    " (created at ", FormatLocation(node.location),
                    ") were already freed by an earlier Backward(); pass "
                    "BackwardOptions{.retain_graph = true} to the earlier call to go "
                    "through the graph twice");

    const int n = node.num_inputs;
    const std::span<const Edge> in = graph->inputs_of(v);
    int64_t kernel_start = 0, kernel_end = 0;
    scratch.dx.resize(std::max<size_t>(scratch.dx.size(), n));
    scratch.input_shapes.resize(std::max<size_t>(scratch.input_shapes.size(), n));
    scratch.input_dtypes.resize(std::max<size_t>(scratch.input_dtypes.size(), n));
    scratch.leaf_grads.resize(std::max<size_t>(scratch.leaf_grads.size(), n));
    absl::InlinedVector<bool, 8> needs_grad(n), added(n);
    absl::InlinedVector<uint32_t, 8> input_ids(n);
    const OpDef* op = node.op;
    const std::source_location created_at = node.location;
    for (int i = 0; i < n; ++i) {
      input_ids[i] = in[i].input;
      needs_grad[i] = in[i].input != kNoNode;
      if (needs_grad[i]) {
        const Node& input = graph->node(in[i].input);
        scratch.input_shapes[i] = input.shape;
        scratch.input_dtypes[i] = input.dtype;
      }
    }
    {
      // Copies: a backward that records may grow the node store.
      const Attrs attrs = node.attrs;
      BackwardContext ctx;
      BackwardAccess::Fill(ctx, recording ? graph : nullptr, frees_nodes, node, attrs, created_at,
                           dy, {scratch.dx.data(), size_t(n)}, {needs_grad.data(), size_t(n)},
                           {scratch.input_shapes.data(), size_t(n)},
                           {scratch.input_dtypes.data(), size_t(n)}, add_in_place ? graph : nullptr,
                           {input_ids.data(), size_t(n)}, {scratch.leaf_grads.data(), size_t(n)},
                           {added.data(), size_t(n)});
      // The leaves' gradients the backward asked for are let go however it
      // ends, so a later pass never sees another pass's.
      absl::Cleanup release = [&scratch, n] {
        for (int i = 0; i < n; ++i) scratch.leaf_grads[i] = Tensor();
      };
      kernel_start = observer != nullptr ? ObserverClockNs() : 0;
      (recording ? op->backward_graph : op->backward)(ctx);
      kernel_end = observer != nullptr ? ObserverClockNs() : 0;
    }
    // A recorded backward (and each recorded accumulation) grows the node and
    // edge stores, so nothing below holds references into them: the op, its
    // location and its inputs were copied before the call.
    for (int i = 0; i < n; ++i) {
      Tensor dx = std::move(scratch.dx[i]);
      if (added[i]) {
        ACTGRAD_REQUIRE(!dx.defined(), location, "backward of ", op->name,
                        " both added its gradient for input ", i,
                        " into the leaf's gradient and returned one");
        continue;
      }
      if (!needs_grad[i] || !dx.defined()) continue;
      if (detect_anomaly) [[unlikely]] {
        const std::string bad = DescribeNonFinite(dx);
        const std::string layer = graph->LayerOf(v);
        ACTGRAD_REQUIRE(bad.empty(), location, "anomaly: the backward of ", op->name,
                        layer.empty() ? "" : " in layer ", layer, " (created at ",
                        FormatLocation(created_at), ") produced ", bad,
                        " in the gradient for input ", i, "; the gradient arriving was ",
                        DescribeNonFinite(dy).empty() ? "finite" : DescribeNonFinite(dy));
      }
      const Shape& input_shape = scratch.input_shapes[i];
      const DType input_dtype = scratch.input_dtypes[i];
      ACTGRAD_REQUIRE(dx.shape() == input_shape && dx.dtype() == input_dtype, location,
                      "backward of ", op->name, " (created at ", FormatLocation(created_at),
                      ") produced a gradient of ", dx.shape().ToString(), " ",
                      DTypeName(dx.dtype()), " for input ", i, " of ", input_shape.ToString(), " ",
                      DTypeName(input_dtype));
      Accumulate(grads[input_ids[i]], std::move(dx), recording);
    }
    if (frees_nodes) graph->FreeNode(v);
    if (observer != nullptr) [[unlikely]] {
      ReportBackward(*observer, *graph, v, started, kernel_start, kernel_end, ObserverClockNs());
    }
  }
  return results;
}

}  // namespace internal

const Tensor* BackwardContext::gradient_to_add_into(int i) const {
  if (leaf_graph_ == nullptr || !needs_grad_[i]) return nullptr;
  Tensor& held = leaf_grads_[i];
  if (!held.defined()) held = internal::GradientToAddInto(leaf_graph_->node(input_ids_[i]));
  return held.defined() ? &held : nullptr;
}

Tensor BackwardContext::TakeDyForDx(int i) const {
  if (takeable_dy_ == nullptr || !needs_grad_[i] || !takeable_dy_->defined()) return Tensor();
  const internal::TensorImpl* dy = takeable_dy_->impl();
  if (dy->refs.load(std::memory_order_relaxed) != 1 || dy->storage->use_count() != 1 ||
      dy->graph != nullptr || !(dy->shape == input_shapes_[i]) || dy->dtype != input_dtypes_[i]) {
    return Tensor();
  }
  return std::move(*takeable_dy_);
}

namespace internal {

std::vector<Tensor> RunRowBackward(const OpDef& op, std::span<const Tensor> inputs,
                                   const Tensor& output, std::span<const Tensor> extras,
                                   const Attrs& attrs, const Tensor& dy,
                                   std::span<const bool> needs_grad, bool recorded,
                                   const std::source_location& location) {
  const size_t n = inputs.size();
  ACTGRAD_REQUIRE(!recorded || op.backward_graph != nullptr, location, op.name,
                  ": has no recordable backward");
  ACTGRAD_REQUIRE(extras.size() <= 2, location, op.name, ": saves more than two extra values");
  std::vector<Tensor> dx(n);
  std::vector<Shape> shapes(n);
  std::vector<DType> dtypes(n);
  for (size_t i = 0; i < n; ++i) {
    shapes[i] = inputs[i].shape();
    dtypes[i] = inputs[i].dtype();
  }
  BackwardContext ctx;
  BackwardAccess::FillFromValues(ctx, op, inputs, output, extras, attrs, location, dy, dx,
                                 needs_grad, shapes, dtypes);
  {
    GradModeGuard mode(recorded);
    (recorded ? op.backward_graph : op.backward)(ctx);
  }
  for (size_t i = 0; i < n; ++i) {
    if (!needs_grad[i]) {
      dx[i] = Tensor();
      continue;
    }
    if (!dx[i].defined()) continue;
    ACTGRAD_REQUIRE(dx[i].shape() == shapes[i] && dx[i].dtype() == dtypes[i], location,
                    "backward of ", op.name, " produced a gradient of ", dx[i].shape().ToString(),
                    " ", DTypeName(dx[i].dtype()), " for input ", i, " of ", shapes[i].ToString(),
                    " ", DTypeName(dtypes[i]));
  }
  return dx;
}

}  // namespace internal
}  // namespace actgrad
