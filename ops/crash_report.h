// -----------------------------------------------------------------------------
// File: crash_report.h
// -----------------------------------------------------------------------------
//
// When code that is not the library's — a plugin's formula — crashes the
// process, the user should learn which op and which plugin, not only "exit
// 139". The kernels that call user formulas mark what they are running
// (FormulaScope, thread-local, two stores per call); a fatal-signal handler
// that a program installs prints it before the process dies as the signal
// wants.
//
// Example (a program's main):
//
//   actgrad::InstallFatalSignalReport("actgrad");
//   // ... a plugin's forward formula dereferences null:
//   // actgrad: fatal signal SIGSEGV in the forward formula of op "crashy"
//   //   from plugin ./libbad.so

#ifndef ACTGRAD_OPS_CRASH_REPORT_H_
#define ACTGRAD_OPS_CRASH_REPORT_H_

#include <string>

#include "graph/op_def.h"

namespace actgrad {

// Installs handlers for SIGSEGV, SIGBUS, SIGFPE and SIGILL that write
// "<program>: fatal signal <name>" and, inside a formula, which op, which
// part (forward, derivative, second derivative) and which plugin, then end
// the process with the same signal.
void InstallFatalSignalReport(const char* program);

namespace internal {

// Records that `op` came from the plugin at `path` (for the report).
void SetPluginOf(const OpDef& op, const std::string& path);

// Marks the formula this thread runs for the report; nests.
class FormulaScope {
 public:
  FormulaScope(const OpDef& op, const char* part);
  ~FormulaScope();
  FormulaScope(const FormulaScope&) = delete;
  FormulaScope& operator=(const FormulaScope&) = delete;

 private:
  const char* previous_op_;
  const char* previous_part_;
  const char* previous_plugin_;
};

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_OPS_CRASH_REPORT_H_
