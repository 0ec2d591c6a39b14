#include "io/output_path.h"

#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "io/file.h"

namespace actgrad::io {

namespace {

// Symbolic links followed before giving up, as the kernel's own limit.
constexpr int kMaxLinks = 40;

const char* KindOf(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISCHR(st.st_mode)) return "a character device";
  if (S_ISBLK(st.st_mode)) return "a block device";
  if (S_ISFIFO(st.st_mode)) return "a FIFO";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  if (S_ISLNK(st.st_mode)) return "a symbolic link";
  if (S_ISREG(st.st_mode)) return "a regular file";
  return "of an unknown type";
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The target of the link at `path`, relative links resolved against the
// link's own directory.
absl::StatusOr<std::string> ReadLink(const std::string& path) {
  char buffer[PATH_MAX];
  const ssize_t n = ::readlink(path.c_str(), buffer, sizeof(buffer) - 1);
  if (n < 0) return ErrnoStatus(errno, path, "cannot read the symbolic link");
  const std::string target(buffer, static_cast<size_t>(n));
  if (absl::StartsWith(target, "/")) return target;
  return absl::StrCat(DirectoryOf(path), "/", target);
}

// Follows `path` through symbolic links when allowed; `st` is lstat's
// answer for the returned path, `exists` false when nothing is there.
struct Resolved {
  std::string path;
  struct stat st;
  bool exists = false;
};
absl::StatusOr<Resolved> Resolve(const std::string& path, absl::string_view option,
                                 bool follow_symlinks) {
  Resolved r{.path = path};
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(option, " ", path, ": ", why));
  };
  for (int links = 0;; ++links) {
    if (::lstat(r.path.c_str(), &r.st) != 0) {
      r.exists = false;  // a dangling link names a file yet to be made
      if (errno == ENOENT) return r;
      return ErrnoStatus(errno, absl::StrCat(option, " ", r.path), "");
    }
    r.exists = true;
    if (!S_ISLNK(r.st.st_mode)) return r;
    if (!follow_symlinks) {
      return refuse(
          "is a symbolic link; refusing to replace it with a file (--follow-symlinks writes to "
          "the file it points to)");
    }
    if (links == kMaxLinks) return refuse("too many levels of symbolic links");
    absl::StatusOr<std::string> target = ReadLink(r.path);
    if (!target.ok()) return target.status();
    r.path = *target;
  }
}

absl::Status CheckParentWritable(const std::string& path, absl::string_view option,
                                 const std::string& shown) {
  const std::string dir = DirectoryOf(path);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat(option, " ", shown, ": its directory ", dir, " does not exist"));
    }
    return ErrnoStatus(errno, absl::StrCat(option, " ", shown), absl::StrCat("directory ", dir));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, " ", shown, ": ", dir, " is not a directory"));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(option, " ", shown, ": cannot write in its directory ", dir));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> CheckOutputPath(const std::string& path, absl::string_view option,
                                            const OutputCheck& check) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(option, ": the path is empty"));
  absl::StatusOr<Resolved> resolved = Resolve(path, option, check.follow_symlinks);
  if (!resolved.ok()) return resolved.status();
  const std::string shown =
      resolved->path == path ? path : absl::StrCat(path, " (-> ", resolved->path, ")");
  if (resolved->exists) {
    if (!S_ISREG(resolved->st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat(option, " ", shown, ": exists and is ", KindOf(resolved->st),
                       ", not a regular file; refusing to replace it"));
    }
    for (const std::string& input : check.inputs) {
      struct stat in;
      if (::stat(input.c_str(), &in) == 0 && in.st_dev == resolved->st.st_dev &&
          in.st_ino == resolved->st.st_ino) {
        return absl::InvalidArgumentError(absl::StrCat(
            option, " ", shown, ": is ", input == path ? "" : absl::StrCat(input, ", "),
            "one of this command's inputs; writing there would destroy it"));
      }
    }
  }
  if (absl::Status s = CheckParentWritable(resolved->path, option, shown); !s.ok()) return s;
  return resolved->path;
}

absl::StatusOr<std::string> CheckOutputDirectory(const std::string& path, absl::string_view option,
                                                 const OutputCheck& check) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(option, ": the path is empty"));
  absl::StatusOr<Resolved> resolved = Resolve(path, option, check.follow_symlinks);
  if (!resolved.ok()) return resolved.status();
  if (!resolved->exists) {
    if (absl::Status s = CheckParentWritable(resolved->path, option, path); !s.ok()) return s;
    return resolved->path;
  }
  if (!S_ISDIR(resolved->st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(option, " ", path, ": exists and is ",
                                                   KindOf(resolved->st), ", not a directory"));
  }
  if (::access(resolved->path.c_str(), W_OK | X_OK) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(option, " ", path, ": cannot write in it"));
  }
  return resolved->path;
}

int RemoveStaleTemporaryFiles(const std::string& path) {
  const std::string dir = DirectoryOf(path);
  const size_t slash = path.rfind('/');
  const std::string prefix =
      absl::StrCat(slash == std::string::npos ? path : path.substr(slash + 1), ".tmp-");
  DIR* listing = ::opendir(dir.c_str());
  if (listing == nullptr) return 0;
  int removed = 0;
  while (const dirent* entry = ::readdir(listing)) {
    const absl::string_view name(entry->d_name);
    if (!absl::StartsWith(name, prefix)) continue;
    const absl::string_view digits = name.substr(prefix.size());
    int pid = 0;
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(digits, &pid) || pid <= 0) {
      continue;
    }
    // A writer that still runs (or runs as another user: EPERM) keeps its file.
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
    const std::string stale = absl::StrCat(dir, "/", name);
    struct stat st;
    if (::lstat(stale.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::unlink(stale.c_str()) == 0) {
      ++removed;
    }
  }
  ::closedir(listing);
  return removed;
}

}  // namespace actgrad::io
