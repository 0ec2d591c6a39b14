// -----------------------------------------------------------------------------
// File: ops/op_check.h (forwarding header)
// -----------------------------------------------------------------------------
//
// This header moved to check/op_check.h; this forwarding copy keeps code that includes
// the old name compiling for the 0.1 releases and goes away in 0.2. Include
// "check/op_check.h" (or "actgrad.h") instead.
//
// Example:
//
//   #include "check/op_check.h"

#ifndef ACTGRAD_COMPAT_OPS_OP_CHECK_H_
#define ACTGRAD_COMPAT_OPS_OP_CHECK_H_

#include "check/op_check.h"

#endif  // ACTGRAD_COMPAT_OPS_OP_CHECK_H_
