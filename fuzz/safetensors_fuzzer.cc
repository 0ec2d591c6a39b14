// libFuzzer target for the safetensors reader, end to end: the bytes are
// written to a scratch file and loaded with `io::LoadSafetensors`, the way
// `actgrad predict --model` loads a model.
//
// The contract checked (any breach aborts): no crash, exception, sanitizer
// report or oversized allocation on any input; a refusal is a Status whose
// message starts with the path; the loader and `io::ParseSafetensorsHeader`
// (given the header and the size of what follows it) agree on whether a
// file is valid and on its entries; every loaded tensor has the declared
// dtype, shape and byte count and its bytes are those of the file; and a
// loaded file saved again with `io::SaveSafetensors` loads back identical.
//
// Built by fuzz/CMakeLists.txt as `safetensors_fuzzer` (clang, libFuzzer)
// and as `fuzz_replay_safetensors` (any compiler, replays a corpus).

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "graph/dtype.h"
#include "graph/tensor.h"
#include "io/safetensors.h"

namespace {

// A scratch directory private to this process: tmpfs when there is one, so
// that the loader's reads and the saver's fsync cost little.
const std::string& ScratchDir() {
  static const std::string* dir = [] {
    std::string pattern = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    pattern += "/actgrad-fuzz-XXXXXX";
    FUZZ_CHECK(mkdtemp(pattern.data()) != nullptr);
    auto* path = new std::string(pattern);
    std::atexit([] {
      const std::string& d = ScratchDir();
      unlink((d + "/in.safetensors").c_str());
      unlink((d + "/out.safetensors").c_str());
      rmdir(d.c_str());
    });
    return path;
  }();
  return *dir;
}

void WriteWhole(const std::string& path, const uint8_t* data, size_t size) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  FUZZ_CHECK(fd >= 0);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, data + done, size - done);
    FUZZ_CHECK(n > 0);
    done += static_cast<size_t>(n);
  }
  FUZZ_CHECK(close(fd) == 0);
}

uint64_t HeaderLength(const uint8_t* data) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  return n;
}

bool SameValues(const actgrad::Tensor& a, const actgrad::Tensor& b) {
  if (a.dtype() != b.dtype() || !(a.shape() == b.shape())) return false;
  const size_t bytes = static_cast<size_t>(a.numel()) * actgrad::DTypeSize(a.dtype());
  return bytes == 0 || std::memcmp(a.raw_data(), b.raw_data(), bytes) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ScratchDir() + "/in.safetensors";
  WriteWhole(path, data, size);
  const absl::StatusOr<actgrad::io::SafetensorsFile> loaded = actgrad::io::LoadSafetensors(path);

  // The same bytes through the header parser alone.
  absl::StatusOr<actgrad::io::SafetensorsHeader> header = absl::InvalidArgumentError("no header");
  if (size >= 8 && HeaderLength(data) <= size - 8 && HeaderLength(data) <= 100'000'000) {
    const size_t n = static_cast<size_t>(HeaderLength(data));
    header = actgrad::io::ParseSafetensorsHeader(
        absl::string_view(reinterpret_cast<const char*>(data + 8), n),
        static_cast<int64_t>(size - 8 - n), path);
  }

  if (!loaded.ok()) {
    FUZZ_CHECK(absl::StartsWith(loaded.status().message(), path));
    FUZZ_CHECK(!header.ok());
    return 0;
  }
  FUZZ_CHECK(header.ok());
  FUZZ_CHECK(header->entries.size() == loaded->tensors.size());
  FUZZ_CHECK(header->metadata == loaded->metadata);
  const size_t data_start = 8 + static_cast<size_t>(HeaderLength(data));
  for (size_t i = 0; i < loaded->tensors.size(); ++i) {
    const actgrad::io::SafetensorsEntry& e = header->entries[i];
    const auto& [name, t] = loaded->tensors[i];
    FUZZ_CHECK(name == e.name);
    FUZZ_CHECK(i == 0 || loaded->tensors[i - 1].first < name);
    FUZZ_CHECK(t.defined() && t.rank() == static_cast<int>(e.shape.size()));
    for (int d = 0; d < t.rank(); ++d) FUZZ_CHECK(t.dim(d) == e.shape[d]);
    FUZZ_CHECK(e.end - e.begin == t.numel() * static_cast<int64_t>(actgrad::DTypeSize(t.dtype())));
    FUZZ_CHECK(0 <= e.begin && e.begin <= e.end && data_start + static_cast<size_t>(e.end) <= size);
    FUZZ_CHECK(e.end == e.begin ||
               std::memcmp(t.raw_data(), data + data_start + e.begin, e.end - e.begin) == 0);
  }

  // Saved again, the file loads back the same (when the writer accepts the
  // names: it refuses some that readers tolerate, which is allowed).
  const std::string out = ScratchDir() + "/out.safetensors";
  if (actgrad::io::SaveSafetensors(out, loaded->tensors, loaded->metadata).ok()) {
    const absl::StatusOr<actgrad::io::SafetensorsFile> again = actgrad::io::LoadSafetensors(out);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->metadata == loaded->metadata);
    FUZZ_CHECK(again->tensors.size() == loaded->tensors.size());
    for (size_t i = 0; i < again->tensors.size(); ++i) {
      FUZZ_CHECK(again->tensors[i].first == loaded->tensors[i].first);
      FUZZ_CHECK(SameValues(again->tensors[i].second, loaded->tensors[i].second));
    }
  }
  return 0;
}
