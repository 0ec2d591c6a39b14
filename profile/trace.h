// -----------------------------------------------------------------------------
// File: trace.h
// -----------------------------------------------------------------------------
//
// Profiles as Chrome trace-event JSON, for Perfetto or chrome://tracing. Each
// profiled step is a named slice ("step 3") on the "steps" track, with the
// ProfileScopes run in it ("optimizer.step", "backward.setup") nested inside;
// ops run forward and backward on two more tracks, where the gaps between
// them are slices too, so that every microsecond of a step is on some
// track; an arrow joins each forward op to its backward; and the live saved
// memory is a counter track. Steps keep their true places on the clock.
// Files are written to a temporary name and renamed.
//
// Example:
//
//   std::vector<actgrad::Profile> steps(5);
//   for (actgrad::Profile& p : steps) {
//     actgrad::Profiler profiler(&p);
//     Step();
//   }
//   absl::Status s = actgrad::WriteChromeTrace(steps, "steps.trace.json");

#ifndef ACTGRAD_PROFILE_TRACE_H_
#define ACTGRAD_PROFILE_TRACE_H_

#include <span>
#include <string>

#include "absl/status/status.h"
#include "profile/profiler.h"

namespace actgrad {

// Chrome trace-event JSON, object form.
absl::Status WriteChromeTrace(std::span<const Profile> steps, const std::string& path);
std::string ChromeTraceJson(std::span<const Profile> steps);
// One profile as one step.
absl::Status WriteChromeTrace(const Profile& profile, const std::string& path);
std::string ChromeTraceJson(const Profile& profile);

}  // namespace actgrad

#endif  // ACTGRAD_PROFILE_TRACE_H_
