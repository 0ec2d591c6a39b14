// -----------------------------------------------------------------------------
// File: plugin_check.h
// -----------------------------------------------------------------------------
//
// Loading a plugin with its tensor ops checked first. A tensor op is code the
// library has never seen, so before it is registered it gets the conformance
// report (check/conformance.h) to second order on the shapes it declares and
// shapes drawn near them: first and second derivatives against finite
// differences, float32 against float64, and forward mode (its own JVP, when
// it gives one) against reverse mode. One that fails refuses the whole
// plugin, so a wrong backward never reaches training. Elementwise
// activations are checked when asked for (`actgrad gradcheck --plugin`).
//
// Example:
//
//   absl::StatusOr<std::vector<const actgrad::OpDef*>> ops =
//       actgrad::LoadCheckedPlugin("libexample_tensor_ops.so");
//   if (!ops.ok()) std::cerr << ops.status().message() << "\n";

#ifndef ACTGRAD_CHECK_PLUGIN_CHECK_H_
#define ACTGRAD_CHECK_PLUGIN_CHECK_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/op_def.h"

namespace actgrad {

// The conformance report of `op` to second order, forward mode included.
// kInvalidArgument names what failed, the case's shapes and the worst
// element.
absl::Status VerifyTensorOp(const OpDef& op);

// LoadPlugin (ops/plugin.h) with VerifyTensorOp as the verifier of its
// tensor ops.
absl::StatusOr<std::vector<const OpDef*>> LoadCheckedPlugin(const std::string& path);

}  // namespace actgrad

#endif  // ACTGRAD_CHECK_PLUGIN_CHECK_H_
