// -----------------------------------------------------------------------------
// File: graph/profiler.h (forwarding header)
// -----------------------------------------------------------------------------
//
// This header moved to profile/profiler.h; this forwarding copy keeps code that includes
// the old name compiling for the 0.1 releases and goes away in 0.2. Include
// "profile/profiler.h" (or "actgrad.h") instead.
//
// Example:
//
//   #include "profile/profiler.h"

#ifndef ACTGRAD_COMPAT_GRAPH_PROFILER_H_
#define ACTGRAD_COMPAT_GRAPH_PROFILER_H_

#include "profile/export.h"
#include "profile/profiler.h"

#endif  // ACTGRAD_COMPAT_GRAPH_PROFILER_H_
