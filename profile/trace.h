// -----------------------------------------------------------------------------
// File: trace.h
// -----------------------------------------------------------------------------
//
// A Profile as Chrome trace-event JSON, for Perfetto or chrome://tracing:
// forward and backward on two tracks, an arrow from each forward op to its
// backward, and the live saved memory as a counter track. Files are written
// to a temporary name and renamed.
//
// Example:
//
//   absl::Status s = actgrad::WriteChromeTrace(profile, "step.trace.json");

#ifndef ACTGRAD_PROFILE_TRACE_H_
#define ACTGRAD_PROFILE_TRACE_H_

#include <string>

#include "absl/status/status.h"
#include "profile/profiler.h"

namespace actgrad {

// Chrome trace-event JSON, object form.
absl::Status WriteChromeTrace(const Profile& profile, const std::string& path);
std::string ChromeTraceJson(const Profile& profile);

}  // namespace actgrad

#endif  // ACTGRAD_PROFILE_TRACE_H_
