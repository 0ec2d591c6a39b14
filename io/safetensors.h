// -----------------------------------------------------------------------------
// File: safetensors.h
// -----------------------------------------------------------------------------
//
// Saving and loading named tensors in the safetensors format
// (https://github.com/huggingface/safetensors), so that weights move between
// actgrad, PyTorch and NumPy. Names and shapes follow PyTorch: `fc1.weight`
// is [out, in].
//
// The layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
//
//   {"__metadata__": {"epoch": "12"},
//    "fc1.bias": {"dtype": "F32", "shape": [64], "data_offsets": [0, 256]}, ...}
//
// padded with spaces so that the data starts 8-byte aligned, then the raw
// little-endian row-major values of every tensor, back to back, at offsets
// relative to the start of the data. actgrad reads and writes F32, F64 and
// I64 (its three dtypes).
//
// Loading trusts nothing in the file: every declared size is checked against
// the real file size before anything is allocated, the JSON is parsed by a
// strict reader that reports the byte offset of a problem within the header,
// and a file that fails any check is refused whole.
//
// Example:
//
//   absl::Status s = actgrad::io::SaveSafetensors(
//       "model.safetensors", {{"fc1.weight", w1}, {"fc1.bias", b1}},
//       {{"epochs", "200"}});
//   if (!s.ok()) std::cerr << s.message() << "\n";
//
//   absl::StatusOr<actgrad::io::SafetensorsFile> f =
//       actgrad::io::LoadSafetensors("model.safetensors");
//   if (!f.ok()) return f.status();
//   for (const auto& [name, tensor] : f->tensors) std::cout << name << " " << tensor;

#ifndef ACTGRAD_IO_SAFETENSORS_H_
#define ACTGRAD_IO_SAFETENSORS_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/tensor.h"

namespace actgrad::io {

// Writes `tensors` (with their current values; gradients and graph are not
// saved) and `metadata` to `path` atomically: the bytes go to
// `path + ".tmp-<pid>"`, are fsynced, and the temporary file is renamed over
// `path`, so a crash never leaves half a file where a good one was. Tensors
// are stored sorted by name, as the reference writer does.
//
// Returns kInvalidArgument without touching the disk for an undefined tensor,
// an empty, repeated or non-UTF-8 name, or the reserved name "__metadata__";
// otherwise a failure names the path and the system's reason.
absl::Status SaveSafetensors(const std::string& path,
                             const std::vector<std::pair<std::string, Tensor>>& tensors,
                             const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  // Sorted by name. Each tensor is a fresh leaf that owns its values.
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;
};

// Reads and validates a whole safetensors file. Refuses (kInvalidArgument
// unless the system failed) a file that is truncated or has trailing bytes, a
// header length beyond the file or above 100 MB, a header that is not a JSON
// object, an unsupported dtype, a malformed or overflowing shape, data offsets
// outside the data, overlapping or leaving gaps, a byte count that does not
// match shape and dtype, duplicate names, or metadata values that are not
// strings. Messages start with the path; JSON problems name the byte offset
// within the header (0 is its opening '{').
absl::StatusOr<SafetensorsFile> LoadSafetensors(const std::string& path);

// The header JSON parsed and checked against a data section of `data_bytes`
// bytes, without reading any tensor data. Exposed for tools that list a
// file's contents and for tests.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "F64" or "I64"
  std::vector<int64_t> shape;
  int64_t begin = 0;  // byte offsets relative to the start of the data
  int64_t end = 0;
};
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // sorted by name
  std::map<std::string, std::string> metadata;
};
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view json, int64_t data_bytes,
                                                         absl::string_view source);

}  // namespace actgrad::io

#endif  // ACTGRAD_IO_SAFETENSORS_H_
