// -----------------------------------------------------------------------------
// File: output_paths.h
// -----------------------------------------------------------------------------
//
// The commands' side of io/output_path.h: every file or directory a command
// will write is checked before the command starts working, and a refusal is
// one line naming the option and the path, with exit status 2. Each path is
// replaced by what to write (a followed link's target).
//
// Example:
//
//   if (!CheckOutputs("actgrad train", {{"--save", &flags.save}}, {flags.data},
//                     flags.follow_symlinks)) {
//     return 2;
//   }

#ifndef ACTGRAD_TOOLS_OUTPUT_PATHS_H_
#define ACTGRAD_TOOLS_OUTPUT_PATHS_H_

#include <string>
#include <vector>

namespace actgrad::tools {

struct PlannedOutput {
  const char* option;
  std::string* path;  // empty: not written this run, skipped
  bool directory = false;
};

// False, after printing "<command>: <reason>" on stderr, when any output is
// refused; two options naming the same file are refused too.
bool CheckOutputs(const char* command, const std::vector<PlannedOutput>& outputs,
                  const std::vector<std::string>& inputs, bool follow_symlinks);

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_OUTPUT_PATHS_H_
