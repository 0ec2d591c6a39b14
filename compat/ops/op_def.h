// -----------------------------------------------------------------------------
// File: ops/op_def.h (forwarding header)
// -----------------------------------------------------------------------------
//
// This header moved to graph/op_def.h; this forwarding copy keeps code that includes
// the old name compiling for the 0.1 releases and goes away in 0.2. Include
// "graph/op_def.h" (or "actgrad.h") instead.
//
// Example:
//
//   #include "graph/op_def.h"

#ifndef ACTGRAD_COMPAT_OPS_OP_DEF_H_
#define ACTGRAD_COMPAT_OPS_OP_DEF_H_

#include "graph/op_def.h"

#endif  // ACTGRAD_COMPAT_OPS_OP_DEF_H_
