// -----------------------------------------------------------------------------
// File: ops/conformance.h (forwarding header)
// -----------------------------------------------------------------------------
//
// This header moved to check/conformance.h; this forwarding copy keeps code that includes
// the old name compiling for the 0.1 releases and goes away in 0.2. Include
// "check/conformance.h" (or "actgrad.h") instead.
//
// Example:
//
//   #include "check/conformance.h"

#ifndef ACTGRAD_COMPAT_OPS_CONFORMANCE_H_
#define ACTGRAD_COMPAT_OPS_CONFORMANCE_H_

#include "check/conformance.h"

#endif  // ACTGRAD_COMPAT_OPS_CONFORMANCE_H_
