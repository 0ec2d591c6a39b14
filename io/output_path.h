// -----------------------------------------------------------------------------
// File: output_path.h
// -----------------------------------------------------------------------------
//
// Where a command may write, decided before it starts working. A file the
// command reads (compared by device and inode, not by name), anything that
// exists and is not a regular file (a device, FIFO, socket or directory),
// and a symbolic link (unless the caller follows links, and then the same
// rules hold for the link's target) are refused; so is a file whose
// directory is missing or not writable. Training a model for an hour and
// then finding that it cannot be saved, or that saving it replaced the
// training data, is what this prevents.
//
// Example:
//
//   absl::StatusOr<std::string> target = actgrad::io::CheckOutputPath(
//       flags.save, "--save", {.inputs = {flags.data}});
//   if (!target.ok()) return Refuse(target.status());  // "--save data.csv: is an input ..."
//   ... train ...
//   actgrad::io::SaveSafetensors(*target, ...);

#ifndef ACTGRAD_IO_OUTPUT_PATH_H_
#define ACTGRAD_IO_OUTPUT_PATH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace actgrad::io {

struct OutputCheck {
  // Files the command reads; an output may not be any of them. Paths that
  // do not exist are ignored.
  std::vector<std::string> inputs;
  // Write through a symbolic link to its target instead of refusing it.
  bool follow_symlinks = false;
};

// The path to write for the output `option` (e.g. "--save") asks for: `path`
// itself, or the final target of the link it names when following links.
// Refusals are kInvalidArgument (kNotFound for a missing directory,
// kPermissionDenied for one that cannot be written) with a message of one
// line that starts with "<option> <path>: ".
absl::StatusOr<std::string> CheckOutputPath(const std::string& path, absl::string_view option,
                                            const OutputCheck& check = {});

// The same for an output directory (files are written inside it): it must
// be a directory if it exists, not a symbolic link (unless followed), and
// its parent must be writable if it does not.
absl::StatusOr<std::string> CheckOutputDirectory(const std::string& path, absl::string_view option,
                                                 const OutputCheck& check = {});

// Removes "<path>.tmp-<pid>" files that a killed writer left, when process
// <pid> no longer runs. Returns how many it removed.
int RemoveStaleTemporaryFiles(const std::string& path);

}  // namespace actgrad::io

#endif  // ACTGRAD_IO_OUTPUT_PATH_H_
