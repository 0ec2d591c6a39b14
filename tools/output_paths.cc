#include "tools/output_paths.h"

#include <iostream>

#include "io/output_path.h"

namespace actgrad::tools {

bool CheckOutputs(const char* command, const std::vector<PlannedOutput>& outputs,
                  const std::vector<std::string>& inputs, bool follow_symlinks) {
  const io::OutputCheck check{.inputs = inputs, .follow_symlinks = follow_symlinks};
  std::vector<const PlannedOutput*> checked;
  for (const PlannedOutput& output : outputs) {
    if (output.path->empty()) continue;
    absl::StatusOr<std::string> target =
        output.directory ? io::CheckOutputDirectory(*output.path, output.option, check)
                         : io::CheckOutputPath(*output.path, output.option, check);
    if (!target.ok()) {
      std::cerr << command << ": " << target.status().message() << "\n";
      return false;
    }
    for (const PlannedOutput* earlier : checked) {
      if (*earlier->path == *target) {
        std::cerr << command << ": " << output.option << " and " << earlier->option << " both name "
                  << *target << "\n";
        return false;
      }
    }
    *output.path = *target;
    checked.push_back(&output);
  }
  return true;
}

}  // namespace actgrad::tools
