#include "io/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "io/output_path.h"

namespace actgrad::io {

namespace {

std::string ErrnoText(int errno_value) {
  char buffer[256];
  // The GNU strerror_r may return a static string instead of filling buffer.
  return strerror_r(errno_value, buffer, sizeof(buffer));
}

// Opens `path` for reading and checks it is a regular file, so that callers
// never block on a FIFO or read a directory.
absl::StatusOr<std::pair<int, int64_t>> OpenRegular(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus(errno, path, "cannot open");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int saved = errno;
    ::close(fd);
    return ErrnoStatus(saved, path, "cannot stat");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file",
                     ", expected a file"));
  }
  // O_NONBLOCK was only there for the open of a FIFO; regular files ignore it.
  return std::make_pair(fd, static_cast<int64_t>(st.st_size));
}

absl::Status ReadFully(int fd, const std::string& path, int64_t offset, char* out, int64_t bytes) {
  while (bytes > 0) {
    const ssize_t n = ::pread(fd, out, static_cast<size_t>(bytes), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, path, "read failed");
    }
    if (n == 0) {
      return absl::DataLossError(absl::StrCat(path, ": file ended at byte ", offset, ", ", bytes,
                                              " bytes short (was it truncated while being read?)"));
    }
    out += n;
    offset += n;
    bytes -= n;
  }
  return absl::OkStatus();
}

absl::Status WriteFully(int fd, const std::string& path, absl::string_view data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, path, "write failed");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ErrnoStatus(int errno_value, absl::string_view path, absl::string_view what) {
  const std::string reason = ErrnoText(errno_value);
  std::string message = what.empty() ? absl::StrCat(path, ": ", reason)
                                     : absl::StrCat(path, ": ", what, ": ", reason);
  return absl::Status(absl::ErrnoToStatusCode(errno_value), message);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  absl::StatusOr<std::pair<int, int64_t>> opened = OpenRegular(path);
  if (!opened.ok()) return opened.status();
  const auto [fd, size] = *opened;
  std::string content;
  size_t filled = 0;
  try {
    // The size from fstat is a hint: the file may grow or shrink while read,
    // and whatever read() delivers up to end of file is what the file holds.
    content.resize(static_cast<size_t>(size));
    while (true) {
      if (filled == content.size()) content.resize(content.size() + 65536);
      const ssize_t n = ::read(fd, content.data() + filled, content.size() - filled);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int saved = errno;
        ::close(fd);
        return ErrnoStatus(saved, path, "read failed");
      }
      if (n == 0) break;
      filled += static_cast<size_t>(n);
    }
  } catch (const std::bad_alloc&) {
    ::close(fd);
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": not enough memory to read the file (", size, " bytes)"));
  }
  ::close(fd);
  content.resize(filled);
  return content;
}

absl::StatusOr<RandomAccessFile> RandomAccessFile::Open(const std::string& path) {
  absl::StatusOr<std::pair<int, int64_t>> opened = OpenRegular(path);
  if (!opened.ok()) return opened.status();
  return RandomAccessFile(path, opened->first, opened->second);
}

RandomAccessFile::RandomAccessFile(RandomAccessFile&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)), size_(other.size_) {}

RandomAccessFile& RandomAccessFile::operator=(RandomAccessFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
  }
  return *this;
}

RandomAccessFile::~RandomAccessFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status RandomAccessFile::ReadAt(int64_t offset, void* out, int64_t bytes) const {
  return ReadFully(fd_, path_, offset, static_cast<char*>(out), bytes);
}

absl::Status WriteFileAtomically(const std::string& path,
                                 std::span<const absl::string_view> pieces) {
  // The rename would put a regular file where a link, a device or a FIFO
  // was: never that.
  struct stat existing;
  if (::lstat(path.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": exists and is ",
                                                   S_ISLNK(existing.st_mode) ? "a symbolic link"
                                                   : S_ISDIR(existing.st_mode)
                                                       ? "a directory"
                                                       : "not a regular file",
                                                   "; refusing to replace it"));
  }
  RemoveStaleTemporaryFiles(path);
  const std::string tmp = absl::StrCat(path, ".tmp-", ::getpid());
  int fd;
  do {
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus(errno, path, absl::StrCat("cannot create ", tmp));

  absl::Status status;
  for (absl::string_view piece : pieces) {
    status = WriteFully(fd, path, piece);
    if (!status.ok()) break;
  }
  // Without the fsync, a crash soon after the rename can leave the new name
  // pointing at a file whose blocks never reached the disk.
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoStatus(errno, path, "fsync failed");
  // close() reports delayed write errors on some file systems (NFS).
  if (::close(fd) != 0 && status.ok()) status = ErrnoStatus(errno, path, "close failed");
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, path, absl::StrCat("cannot rename ", tmp, " to it"));
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  // Makes the rename itself durable; failing to open the directory (no read
  // permission) costs durability, not correctness, so it is not an error.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

}  // namespace actgrad::io
