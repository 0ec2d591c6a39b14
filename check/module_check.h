// -----------------------------------------------------------------------------
// File: module_check.h
// -----------------------------------------------------------------------------
//
// `GradCheckModule` checks the gradient of a whole network at its real size,
// where checking element by element (check/gradcheck.h) would take one pair
// of forward passes per weight. It compares directional derivatives, as the
// "fast mode" of PyTorch's gradcheck does: along a random unit direction v,
// the reverse-mode <grad L, v> (one backward pass serves every direction)
// against finite differences of L along v.
//
// How it decides:
//   * The network is copied in float64: each module is rebuilt from its
//     Config() through its registered kind (nn/module_kinds.h) with the
//     "dtype" option set to float64, and the state dict is converted and
//     loaded. The caller's module is never changed.
//   * L is the task's loss (nn/task.h) when options.task is set, otherwise
//     sum(w * f(x)) with a fixed random cotangent w.
//   * Directions: `directions` over all parameters and the input together,
//     then one per parameter tensor (supported on that tensor alone) and
//     one over the input when it is real-valued (not token indices). A
//     failing per-tensor direction names the tensor ("2.weight") and the
//     layer that holds it ("2", mutant_scale).
//   * The numeric derivative is the central difference (L(θ+hv) − L(θ−hv))/2h
//     at steps h = step, step/2, ..., step/16, refined by Richardson
//     extrapolation (internal::RichardsonDerivative). The steps are small
//     because the loss is a sum over many ReLU and max-pool kinks; a
//     stencil that straddles one spoils a difference, and a small step makes
//     that unlikely.
//   * A direction passes when |analytic − numeric| <= atol + rtol * max(|a|, |n|):
//     a relative error with an absolute floor, the floor for tensors whose
//     gradient is zero by construction (a bias in front of batch norm).
//   * Where the point itself sits on a kink along v (a max-pool tie exactly
//     there, which runs of zero pixels make common), the one-sided
//     differences disagree by a gap that does not shrink with the step.
//     Backward returns one subgradient of many there, so the direction is
//     flagged as a kink and not compared; a check whose every direction is
//     one fails ("every direction sits on a kink"). A smooth path's gap
//     shrinks with the step, so a wrong backward there is never taken for a
//     kink.
//   * Layers that draw random masks — dropout, and attention and recurrent
//     layers whose "dropout" option is above 0 — are put in evaluation mode
//     in the copy, since every training-mode call draws a new mask and the
//     differences would compare different functions. Every other module
//     keeps the caller's mode: batch norm in training mode is checked on
//     batch statistics (its running statistics move between evaluations,
//     but the function evaluated does not read them).
//   * A failing check is shrunk before it is reported: the batch is halved
//     (down to one row) while the check still fails, then the sequence is
//     shortened (a batch-first input [N, T, F], an embedding's [N, T]
//     indices, or rows that a leading Unflatten turns into [T, F] steps),
//     then the input is zeroed: all of it, else blocks of each row down to
//     a sixteenth of it. The report gives the input it ended with.
//
// Example:
//
//   actgrad::ModuleCheckReport report = actgrad::GradCheckModule(*model, x);
//   if (!report.passed) std::cerr << report.ToString();
//   // FAIL  mismatch: 8 directions over 139 parameters in 5 tensors, ...
//   //   worst direction: 2.weight [8] in layer 2 (mutant_scale)
//   //     <grad, v> = -0.0274304562 by backward, -0.0274329108 by finite ...
//   //   shrunk input: [1,12] (from [8,12]), 1 of 12 elements nonzero

#ifndef ACTGRAD_CHECK_MODULE_CHECK_H_
#define ACTGRAD_CHECK_MODULE_CHECK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "graph/tensor.h"
#include "nn/module.h"
#include "nn/task.h"

namespace actgrad {

struct ModuleCheckOptions {
  double rtol = 1e-5;
  double atol = 1e-8;
  // The first step along a unit direction; the ladder halves it four times.
  double step = 1e-5;
  // Random directions over all parameters and the input together.
  int directions = 2;
  // Also one direction per parameter tensor, and one over the input.
  bool per_tensor = true;
  bool check_input = true;
  // Shrink a failing input before reporting it, with at most this many
  // further checks.
  bool shrink = true;
  int max_shrink_checks = 48;
  // The task's loss on `targets` (one per input row, as nn::TargetTensor
  // takes them) instead of the random cotangent. Needs an nn::Sequential.
  std::optional<nn::Task> task;
  std::vector<double> targets;
  // Token indices (an embedding first): never perturbed, never scaled.
  // Unset: true when the first layer of the network is an embedding.
  std::optional<bool> input_is_indices;
  // Seeds the directions, the cotangent and nothing else.
  uint64_t seed = 0x5eed;
};

// One compared direction.
struct DirectionCheck {
  std::string tensor;   // "2.weight"; "all" (every parameter and the input), "input"
  std::string layer;    // the module that holds it, "2" or "0.self_attn"; empty for all/input
  std::string kind;     // that module's kind, "linear"
  Shape shape;          // the tensor's (the input's for "input")
  double analytic = 0;  // <grad L, v>
  double numeric = 0;   // Richardson-extrapolated central differences
  double abs_error = 0;
  double rel_error = 0;  // abs_error / max(|analytic|, |numeric|)
  bool passed = true;
  // The loss has a kink along this direction at the point itself: not
  // compared (passed is true), whatever the errors say.
  bool kink = false;
  double left = 0;   // (L(θ) − L(θ − h v)) / h, extrapolated
  double right = 0;  // (L(θ + h v) − L(θ)) / h, extrapolated
};

// One step of shrinking that kept the failure.
struct ShrinkStep {
  std::string what;  // "rows 8 -> 4", "steps 8 -> 4", "zeroed 32 of 64 features"
  Shape shape;       // the input after it
};

struct ModuleCheckReport {
  bool passed = false;
  // "ok", or why not: "mismatch", "non-finite values", "no parameters",
  // "every direction sits on a kink".
  std::string verdict;
  double loss = 0;
  std::string loss_name;  // "cotangent" or the task's loss, "multiclass loss"
  int64_t parameters = 0;
  int64_t parameter_tensors = 0;
  // Every direction of the final check (on the shrunk input when shrunk).
  std::vector<DirectionCheck> checks;
  // Index into `checks` of the one furthest outside its tolerance; a
  // per-tensor direction is preferred over "all" when both fail, since it
  // names a tensor. -1 when there are none.
  int worst = -1;
  Shape input_shape;  // as given
  // The input the final check ran on; what shrinking left of a failure.
  Shape checked_shape;
  int64_t nonzero_inputs = 0;  // elements of that input that are not zero
  std::vector<ShrinkStep> shrink_steps;
  int64_t evaluations = 0;  // forward passes, shrinking included
  double seconds = 0;

  const DirectionCheck* Worst() const { return worst < 0 ? nullptr : &checks[worst]; }
  // A few lines: the verdict, the worst direction, what shrinking found.
  std::string ToString() const;
  // One JSON object with every field.
  std::string ToJson() const;
};

// Checks the gradient of `module` at `input` (any floating dtype; converted
// to float64). Throws `Error` for a module whose kinds are not all
// registered (it cannot be copied), an undefined or empty input, targets
// without a task or a row count different from the input's, or a task loss
// on a module that is not an nn::Sequential.
ModuleCheckReport GradCheckModule(nn::Module& module, const Tensor& input,
                                  const ModuleCheckOptions& options = {});

}  // namespace actgrad

#endif  // ACTGRAD_CHECK_MODULE_CHECK_H_
