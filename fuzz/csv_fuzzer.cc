// libFuzzer target for the CSV reader: `io::ParseCsv` on arbitrary bytes.
//
// The contract checked (any breach aborts, so the fuzzer records it): no
// crash, no exception and no sanitizer report on any input; a refusal is an
// absl::Status whose message starts with the source name; an accepted table
// is consistent (rows * features values, one target per row, every value
// finite, as many names as features) and turns into tensors.
//
// The first byte chooses the options, so that both the default (last column
// is the target) and a named, possibly optional, target are exercised; the
// rest is the file. Built by fuzz/CMakeLists.txt as `csv_fuzzer` (clang,
// libFuzzer) and as `fuzz_replay_csv` (any compiler, replays a corpus).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "graph/error.h"
#include "graph/tensor.h"
#include "io/csv.h"

namespace {

constexpr absl::string_view kSource = "fuzz.csv";

void CheckDataset(const actgrad::io::Dataset& d, bool has_target) {
  FUZZ_CHECK(d.rows > 0);
  FUZZ_CHECK(d.features >= 1);
  FUZZ_CHECK(static_cast<int64_t>(d.feature_names.size()) == d.features);
  FUZZ_CHECK(static_cast<int64_t>(d.x.size()) == d.rows * d.features);
  FUZZ_CHECK(static_cast<int64_t>(d.y.size()) == (has_target ? d.rows : 0));
  FUZZ_CHECK(d.source == kSource);
  for (double v : d.x) FUZZ_CHECK(std::isfinite(v));
  for (double v : d.y) FUZZ_CHECK(std::isfinite(v));

  const actgrad::Tensor x = d.Features();
  FUZZ_CHECK(x.rank() == 2 && x.dim(0) == d.rows && x.dim(1) == d.features);
  if (!has_target) return;
  const actgrad::Tensor y = d.Targets(actgrad::DType::kFloat64);
  FUZZ_CHECK(y.numel() == d.rows);
  // Integer labels are refused with an Error when a target is fractional;
  // that is the documented misuse path, not a crash.
  try {
    (void)d.Targets(actgrad::DType::kInt64);
  } catch (const actgrad::Error&) {
  }
  const actgrad::io::Split split = actgrad::io::RandomSplit(d.rows, 0.25, /*seed=*/1);
  FUZZ_CHECK(static_cast<int64_t>(split.train.size() + split.test.size()) == d.rows);
  const actgrad::io::Dataset test = d.Subset(split.test);
  FUZZ_CHECK(test.rows == static_cast<int64_t>(split.test.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const absl::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  actgrad::io::CsvOptions options;
  switch (mode % 4) {
    case 0:  // the last column is the target
      break;
    case 1:  // a target named like a common header cell
      options.target_column = "y";
      break;
    case 2:
      options.target_column = "y";
      options.target_optional = true;
      break;
    case 3:  // the first header cell, whatever it is
      options.target_column = std::string(text.substr(0, text.find_first_of(",\r\n")));
      options.target_optional = (mode & 4) != 0;
      break;
  }

  const absl::StatusOr<actgrad::io::Dataset> d = actgrad::io::ParseCsv(text, kSource, options);
  if (!d.ok()) {
    FUZZ_CHECK(!d.status().message().empty());
    FUZZ_CHECK(absl::StartsWith(d.status().message(), kSource));
    return 0;
  }
  CheckDataset(*d, /*has_target=*/!d->target_name.empty());
  return 0;
}
