// -----------------------------------------------------------------------------
// File: actgrad.h
// -----------------------------------------------------------------------------
//
// Everything a user of the core needs, in one include: tensors and their
// factories, the ops, the graph export, the gradient checker (check/) and
// the profiler (profile/). Layers, optimizers and data live in nn/, optim/
// and io/, included by name (nn/nn.h, optim/sgd.h, io/csv.h).
//
// Example:
//
//   #include "actgrad.h"
//
//   actgrad::Generator gen(0);
//   actgrad::Tensor w = actgrad::Normal({4, 1}, 0, 0.5, gen).set_requires_grad(true);
//   actgrad::Tensor loss = actgrad::Mean(actgrad::Sigmoid(actgrad::Matmul(x, w)));
//   loss.Backward();

#ifndef ACTGRAD_ACTGRAD_H_
#define ACTGRAD_ACTGRAD_H_

#include "check/gradcheck.h"
#include "check/op_check.h"
#include "graph/anomaly.h"
#include "graph/dot.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/forward_mode.h"
#include "graph/generator.h"
#include "graph/grad_mode.h"
#include "graph/op_def.h"
#include "graph/profile_hooks.h"
#include "graph/tensor.h"
#include "ops/autodiff.h"
#include "ops/builtin_ops.h"
#include "ops/functional.h"
#include "ops/gemm.h"
#include "ops/layer_ops.h"
#include "ops/registry.h"
#include "ops/sequence_ops.h"
#include "ops/threads.h"
#include "profile/export.h"
#include "profile/profiler.h"

#endif  // ACTGRAD_ACTGRAD_H_
