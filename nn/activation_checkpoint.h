// -----------------------------------------------------------------------------
// File: activation_checkpoint.h
// -----------------------------------------------------------------------------
//
// Activation checkpointing: `ActivationCheckpoint` wraps a module so that its
// forward keeps only its input for backward, not the values computed inside
// it, and runs that forward again inside backward to get them. Memory saved for
// backward drops by what the module's ops would have kept; the step pays one
// more forward of the module. Results are bitwise those of the unwrapped
// module: the recomputation rewinds the module's random streams (dropout
// draws the same masks) and puts back the buffers it updates (batch norm's
// running statistics move once per step, as without the checkpoint).
//
// The wrapped module is the child "module", so its parameters are named
// "module.weight" under the checkpoint. The profiler sees the recomputed ops
// as forward records marked `recompute`; `actgrad profile --memory-budget`
// says which modules are worth wrapping (profile/memory_advice.h).
//
// The recomputation and its backward run on a helper thread (one per level
// of nested checkpoints, kept for the process's life) that records into a
// graph of its own while the calling thread waits; the gradients come back
// as ordinary gradients of the checkpoint's node. Differentiating twice
// through a checkpoint (create_graph) is refused.
//
// Example:
//
//   actgrad::nn::Sequential net;
//   net.Add(std::make_unique<actgrad::nn::ActivationCheckpoint>(MakeBlock(gen)));
//   net.Add(std::make_unique<actgrad::nn::Linear>(...));
//   Tensor loss = CrossEntropy(net.Forward(x), labels);
//   loss.Backward();  // the block's forward runs again here

#ifndef ACTGRAD_NN_ACTIVATION_CHECKPOINT_H_
#define ACTGRAD_NN_ACTIVATION_CHECKPOINT_H_

#include <memory>
#include <string>

#include "graph/op_def.h"
#include "nn/module.h"

namespace actgrad::nn {

class ActivationCheckpoint : public Module {
 public:
  // Throws `Error` for a null module or one that belongs to another parent.
  explicit ActivationCheckpoint(std::unique_ptr<Module> module,
                                std::source_location location = std::source_location::current());
  ~ActivationCheckpoint() override;

  // Without gradients (NoGradGuard, eval), the module runs as itself.
  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return "checkpoint"; }
  Module& module() { return *module_; }

  // Internal: this checkpoint's op row, found again from the OpDef.
  struct Row;

 private:
  static ActivationCheckpoint* OwnerOf(const OpDef& def);
  static Tensor RowForward(ForwardContext& ctx);
  static void RowBackward(BackwardContext& ctx);

  std::unique_ptr<Module> module_;
  std::unique_ptr<Row> row_;
  // The layer path of the last profiled forward, for the recomputed ops.
  std::string layer_path_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_ACTIVATION_CHECKPOINT_H_
