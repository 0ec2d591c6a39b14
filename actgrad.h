// -----------------------------------------------------------------------------
// File: actgrad.h
// -----------------------------------------------------------------------------
//
// Everything a user of the core needs, in one include: tensors and their
// factories, the ops, the graph export, and the gradient checker.
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

#include "graph/anomaly.h"
#include "graph/dot.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/generator.h"
#include "graph/grad_mode.h"
#include "graph/gradcheck.h"
#include "graph/profiler.h"
#include "graph/tensor.h"
#include "ops/builtin_ops.h"
#include "ops/functional.h"
#include "ops/gemm.h"
#include "ops/op_check.h"
#include "ops/op_def.h"
#include "ops/registry.h"
#include "ops/threads.h"

#endif  // ACTGRAD_ACTGRAD_H_
