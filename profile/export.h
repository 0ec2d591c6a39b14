// -----------------------------------------------------------------------------
// File: export.h
// -----------------------------------------------------------------------------
//
// A Profile as people and tools read it: tables by op type and by layer
// (text and JSON), Chrome trace-event JSON for Perfetto or chrome://tracing
// (profile/trace.h), and the step's graph as DOT (profile/graph_dot.h),
// with the tables in profile/tables.h and the machine's roofs in
// profile/roofs.h; this header includes them all.
//
// Example:
//
//   actgrad::Profile profile;
//   {
//     actgrad::Profiler profiler(&profile);
//     loss = model.Forward(x) ...;
//     loss.Backward();
//   }
//   std::cout << actgrad::FormatGroupTable(profile.ByOp(), profile, "op",
//                                          actgrad::MeasureGemmGflops());
//   absl::Status s = actgrad::WriteChromeTrace(profile, "step.trace.json");

#ifndef ACTGRAD_PROFILE_EXPORT_H_
#define ACTGRAD_PROFILE_EXPORT_H_

#include "profile/graph_dot.h"
#include "profile/roofs.h"
#include "profile/tables.h"
#include "profile/trace.h"

#endif  // ACTGRAD_PROFILE_EXPORT_H_
