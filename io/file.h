// -----------------------------------------------------------------------------
// File: file.h
// -----------------------------------------------------------------------------
//
// io/ is where data meets the outside world: files written atomically (here),
// CSV data sets (io/csv.h), safetensors (io/safetensors.h) and JSON helpers;
// failures come back as absl::Status naming the file.
//
// The few file operations that the readers and writers in io/ share, with the
// outside world's failures returned as `absl::Status` whose message names the
// path and the system's reason:
//
//   * `ReadFile` reads a whole (text) file.
//   * `RandomAccessFile` reads ranges of a file whose size is known up front,
//     so a reader can check sizes declared inside the file against the real
//     size before it allocates anything.
//   * `WriteFileAtomically` writes to `path + ".tmp-<pid>"`, fsyncs, and renames
//     over `path`: a crash leaves either the old file or the new one, never
//     half of the new one, and a failure leaves no temporary file behind.
//
// Example:
//
//   absl::StatusOr<std::string> text = actgrad::io::ReadFile("data/iris.csv");
//   if (!text.ok()) return text.status();  // "data/iris.csv: No such file ..."
//
//   std::string header = ...;
//   absl::Status s = actgrad::io::WriteFileAtomically(
//       "model.safetensors", {absl::string_view(header), payload});

#ifndef ACTGRAD_IO_FILE_H_
#define ACTGRAD_IO_FILE_H_

#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace actgrad::io {

// "PATH: WHAT: strerror(errno_value)" with the status code that fits the
// errno (kNotFound for ENOENT, kPermissionDenied for EACCES, ...). `what` may
// be empty.
absl::Status ErrnoStatus(int errno_value, absl::string_view path, absl::string_view what);

// The whole content of a regular file. A missing file is kNotFound; a
// directory or another non-regular file is kInvalidArgument.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// A regular file opened for reading at arbitrary offsets. Movable, closes the
// descriptor on destruction.
class RandomAccessFile {
 public:
  static absl::StatusOr<RandomAccessFile> Open(const std::string& path);

  RandomAccessFile(RandomAccessFile&& other) noexcept;
  RandomAccessFile& operator=(RandomAccessFile&& other) noexcept;
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;
  ~RandomAccessFile();

  const std::string& path() const { return path_; }
  // The size when the file was opened.
  int64_t size() const { return size_; }

  // Reads exactly `bytes` bytes at `offset` into `out`. A file that turns out
  // shorter than that (it shrank after Open) is kDataLoss.
  absl::Status ReadAt(int64_t offset, void* out, int64_t bytes) const;

 private:
  RandomAccessFile(std::string path, int fd, int64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}

  std::string path_;
  int fd_ = -1;
  int64_t size_ = 0;
};

// Writes the concatenation of `pieces` to `path` atomically (see the top of
// this file). An existing regular file is replaced; a symbolic link, a
// directory, a device, a FIFO or a socket at `path` is refused
// (kInvalidArgument), never replaced. Temporary files that killed writers
// left beside `path` are removed first (io/output_path.h). The new file gets
// mode 0644 less the umask. The temporary name depends only on the process,
// so two threads must not write the same path at the same time.
absl::Status WriteFileAtomically(const std::string& path,
                                 std::span<const absl::string_view> pieces);

}  // namespace actgrad::io

#endif  // ACTGRAD_IO_FILE_H_
