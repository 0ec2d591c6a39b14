// -----------------------------------------------------------------------------
// File: graph/gradcheck.h (forwarding header)
// -----------------------------------------------------------------------------
//
// This header moved to check/gradcheck.h; this forwarding copy keeps code that includes
// the old name compiling for the 0.1 releases and goes away in 0.2. Include
// "check/gradcheck.h" (or "actgrad.h") instead.
//
// Example:
//
//   #include "check/gradcheck.h"

#ifndef ACTGRAD_COMPAT_GRAPH_GRADCHECK_H_
#define ACTGRAD_COMPAT_GRAPH_GRADCHECK_H_

#include "check/gradcheck.h"

#endif  // ACTGRAD_COMPAT_GRAPH_GRADCHECK_H_
