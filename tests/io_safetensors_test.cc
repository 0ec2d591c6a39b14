#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <numbers>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "graph/factories.h"
#include "graph/generator.h"
#include "graph/tensor.h"
#include "io/safetensors.h"

namespace actgrad::io {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "io_safetensors_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << pattern;
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string WriteBytes(const std::string& name, const std::string& bytes) {
    const std::string path = Path(name);
    std::ofstream out(path, std::ios::binary);
    out << bytes;
    EXPECT_TRUE(out.good()) << path;
    return path;
  }

  std::vector<std::string> DirEntries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
};

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string LittleEndian64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}

// A file made by hand: length, `json` (padded with spaces to 8-byte
// alignment when `pad`), then `data_bytes` bytes of data.
std::string MakeFile(const std::string& json, size_t data_bytes, bool pad = true) {
  std::string header = json;
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  std::string data(data_bytes, '\0');
  for (size_t i = 0; i < data_bytes; ++i) data[i] = static_cast<char>(i * 37 + 1);
  return LittleEndian64(header.size()) + header + data;
}

std::string RawBytes(const Tensor& t) {
  return std::string(static_cast<const char*>(t.raw_data()),
                     static_cast<size_t>(t.numel()) * DTypeSize(t.dtype()));
}

template <typename T>
Tensor TensorOf(std::vector<T> values, const Shape& shape) {
  Tensor t = Zeros(shape, DTypeOf<T>());
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}

TEST_F(SafetensorsTest, RoundTripIsBitExact) {
  const float nan_payload = std::bit_cast<float>(0x7fc01234u);
  Tensor f32 = TensorOf<float>(
      {1.5f, -0.0f, std::numeric_limits<float>::denorm_min(),
       std::numeric_limits<float>::infinity(), nan_payload, std::numeric_limits<float>::max()},
      {2, 3});
  Tensor f64 =
      TensorOf<double>({std::numbers::pi, -1e-310, std::numeric_limits<double>::lowest()}, {3, 1});
  Tensor i64 = TensorOf<int64_t>(
      {std::numeric_limits<int64_t>::min(), -1, 0, std::numeric_limits<int64_t>::max()}, {4});
  Tensor scalar = Scalar(2.5, DType::kFloat64);
  Tensor empty = Zeros({0, 4});
  Generator gen(3);
  Tensor wide = Uniform({7, 5, 3}, -1, 1, gen);
  const std::map<std::string, std::string> metadata = {
      {"epochs", "200"}, {"note", "quote \" backslash \\ newline \n tab \t \x01 caf\xC3\xA9"}};
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"fc1.weight", f32},        {"fc1.bias", f64}, {"labels", i64},
      {"step", scalar},           {"empty", empty},  {"wide", wide},
      {"na\"me\\\n\xC3\xA9", f32}};
  const std::string path = Path("model.safetensors");
  ASSERT_TRUE(SaveSafetensors(path, tensors, metadata).ok());

  absl::StatusOr<SafetensorsFile> loaded = LoadSafetensors(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->metadata, metadata);
  std::map<std::string, Tensor> expected(tensors.begin(), tensors.end());
  ASSERT_EQ(loaded->tensors.size(), expected.size());
  auto it = expected.begin();
  for (const auto& [name, t] : loaded->tensors) {
    SCOPED_TRACE(name);
    EXPECT_EQ(name, it->first) << "tensors come back sorted by name";
    EXPECT_EQ(t.dtype(), it->second.dtype());
    EXPECT_EQ(t.shape(), it->second.shape());
    EXPECT_EQ(RawBytes(t), RawBytes(it->second));
    EXPECT_FALSE(t.requires_grad());
    ++it;
  }
}

TEST_F(SafetensorsTest, LayoutFollowsTheSpec) {
  const std::string path = Path("layout.safetensors");
  Tensor a = FromValues({1, 2, 3}, DType::kFloat32);
  Tensor b = FromValues({4, 5}, DType::kFloat64);
  Tensor c = Labels({7});
  // Given out of order: the file holds them sorted by name.
  ASSERT_TRUE(SaveSafetensors(path, {{"c", c}, {"a", a}, {"b", b}}, {{"k", "v"}}).ok());

  const std::string bytes = ReadBytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  ASSERT_LE(8 + n, bytes.size());
  EXPECT_EQ((8 + n) % 8, 0u) << "data must start 8-byte aligned";
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  const size_t close = header.rfind('}');
  ASSERT_NE(close, std::string::npos);
  EXPECT_EQ(header.substr(close + 1), std::string(n - close - 1, ' ')) << "padding must be spaces";
  EXPECT_THAT(header, StartsWith("{\"__metadata__\":{\"k\":\"v\"}"));

  // The writer's compact form: "NAME":{"dtype":"D","shape":[..],"data_offsets":[B,E]}.
  std::vector<std::string> names, dtypes, shapes;
  uint64_t expected_begin = 0;
  const std::string entry_start = "\":{\"dtype\":\"";
  for (size_t at = header.find(entry_start); at != std::string::npos;
       at = header.find(entry_start, at + 1)) {
    const size_t name_begin = header.rfind('"', at - 1) + 1;
    names.push_back(header.substr(name_begin, at - name_begin));
    const size_t dtype_begin = at + entry_start.size();
    dtypes.push_back(header.substr(dtype_begin, header.find('"', dtype_begin) - dtype_begin));
    const size_t shape_begin = header.find("\"shape\":[", at) + 9;
    shapes.push_back(header.substr(shape_begin, header.find(']', shape_begin) - shape_begin));
    const size_t offsets_begin = header.find("\"data_offsets\":[", at) + 16;
    size_t comma = 0;
    EXPECT_EQ(std::stoull(header.substr(offsets_begin), &comma), expected_begin)
        << "offsets must be contiguous";
    expected_begin = std::stoull(header.substr(offsets_begin + comma + 1));
  }
  EXPECT_THAT(names, ElementsAre("a", "b", "c"));
  EXPECT_THAT(dtypes, ElementsAre("F32", "F64", "I64"));
  EXPECT_THAT(shapes, ElementsAre("3", "2", "1"));
  EXPECT_EQ(expected_begin, bytes.size() - 8 - n) << "the data ends with the last tensor";

  const std::string data = bytes.substr(8 + n);
  EXPECT_EQ(data.substr(0, 12), RawBytes(a));
  EXPECT_EQ(data.substr(12, 16), RawBytes(b));
  EXPECT_EQ(data.substr(28, 8), RawBytes(c));
}

TEST_F(SafetensorsTest, ReadsForeignFormattingAndEscapes) {
  // What another writer may produce: whitespace, other key orders, null
  // metadata, \u escapes (including a surrogate pair) in names.
  const std::string json =
      "{\n  \"__metadata__\": null,\n"
      "  \"caf\\u00e9\\ud83d\\ude00\": {\"data_offsets\": [0, 8], \"shape\": [2],\n"
      "     \"dtype\": \"F32\"},\n"
      "  \"z\": {\"shape\": [], \"dtype\": \"I64\", \"data_offsets\": [8, 16]}\n}";
  const std::string path = WriteBytes("foreign.safetensors", MakeFile(json, 16));
  absl::StatusOr<SafetensorsFile> loaded = LoadSafetensors(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->tensors.size(), 2u);
  EXPECT_EQ(loaded->tensors[0].first, "caf\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(loaded->tensors[0].second.shape(), Shape({2}));
  EXPECT_EQ(loaded->tensors[1].second.rank(), 0);
  EXPECT_TRUE(loaded->metadata.empty());
}

TEST_F(SafetensorsTest, EmptyFileOfTensorsRoundTrips) {
  const std::string path = Path("none.safetensors");
  ASSERT_TRUE(SaveSafetensors(path, {}).ok());
  absl::StatusOr<SafetensorsFile> loaded = LoadSafetensors(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->tensors.empty());
}

// Files that must be refused. `needle` must appear in the message.
struct CorruptCase {
  const char* name;
  std::string bytes;
  std::string needle;
};

// Failure output names the case instead of dumping its bytes.
void PrintTo(const CorruptCase& c, std::ostream* os) { *os << c.name; }

const std::string kGoodEntry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

std::vector<CorruptCase> CorruptCases() {
  return {
      {"shorter_than_length", "\x05\x00\x00", "truncated"},
      {"length_beyond_file", LittleEndian64(1000) + "{}      ", "header length is 1000"},
      {"length_of_a_petabyte", LittleEndian64(1ull << 50) + "{}      ",
       "header length is 1125899906842624"},
      {"length_max_u64", LittleEndian64(UINT64_MAX) + "{}      ", "header length is"},
      {"empty_header", MakeFile("", 0), "must be a JSON object"},
      {"not_json", MakeFile("hello", 0), "header byte 0: the header must be a JSON object"},
      {"not_an_object", MakeFile("[1,2]", 0), "must be a JSON object"},
      {"leading_space", MakeFile(" {}", 0), "starting with '{'"},
      {"missing_comma", MakeFile(R"({"a":{"dtype":"F32" "shape":[2],"data_offsets":[0,8]}})", 8),
       "header byte 20: Missing a comma or '}' after an object member"},
      {"unterminated_string", MakeFile(R"({"a)", 0), "Missing a closing quotation mark in string"},
      {"unterminated_object", MakeFile("{" + kGoodEntry, 8), "Missing a comma or '}'"},
      {"trailing_comma", MakeFile("{" + kGoodEntry + ",}", 8), "Missing a name for object member"},
      {"trailing_garbage", MakeFile("{" + kGoodEntry + "} x", 8), "after the header object"},
      {"nul_padding", MakeFile("{" + kGoodEntry + "}" + std::string(3, '\0'), 8, false),
       "NUL byte"},
      {"control_char_in_name", MakeFile("{\"a\x01\":{}}", 0),
       "header byte 3: control character 0x01 in a string"},
      {"invalid_utf8_in_name", MakeFile("{\"a\xff\":{}}", 0), "Invalid encoding in string"},
      {"lone_surrogate", MakeFile(R"({"\udc00":{}})", 0),
       "not valid UTF-8 (an escaped lone surrogate)"},
      {"bad_escape", MakeFile(R"({"\q":{}})", 0), "Invalid escape character in string"},
      {"unknown_dtype", MakeFile(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4),
       "unsupported dtype \"F16\""},
      {"negative_extent", MakeFile(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
       "negative extent"},
      {"extent_beyond_64_bits",
       MakeFile(R"({"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}})", 4),
       "does not fit in 64 bits"},
      {"extents_overflow_in_product",
       MakeFile(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
       "overflows 64 bits"},
      {"bytes_overflow",
       MakeFile(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,4]}})", 4),
       "byte size overflows 64 bits"},
      {"rank_too_high",
       MakeFile(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", 4),
       "more than 8 elements"},
      {"fractional_extent",
       MakeFile(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8),
       "must be an integer"},
      {"shape_not_array", MakeFile(R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", 8),
       "(an array)"},
      {"offsets_outside_data",
       MakeFile(R"({"a":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}})", 16),
       "outside the data, which is 16 bytes"},
      {"petabyte_declared",
       MakeFile(R"({"a":{"dtype":"F32","shape":[1000000000,1000000],)"
                R"("data_offsets":[0,4000000000000000]}})",
                8),
       "outside the data"},
      {"petabyte_shape_small_offsets",
       MakeFile(R"({"a":{"dtype":"F32","shape":[1000000000,1000000],"data_offsets":[0,8]}})", 8),
       "needs 4000000000000000 bytes"},
      {"size_mismatch", MakeFile(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       "needs 12 bytes, but its data_offsets [0,8] hold 8"},
      {"reversed_offsets", MakeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8),
       "0 <= begin <= end"},
      {"three_offsets", MakeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", 8),
       "more than 2 elements"},
      {"overlapping",
       MakeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                12),
       "overlaps tensor \"a\""},
      {"gap",
       MakeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                20),
       "gap in the data: bytes 8..12"},
      {"gap_at_start", MakeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
       "gap in the data: bytes 0..4"},
      {"trailing_data", MakeFile("{" + kGoodEntry + "}", 16),
       "the last 8 bytes belong to no tensor"},
      {"truncated_data", MakeFile("{" + kGoodEntry + "}", 5), "outside the data"},
      {"duplicate_name", MakeFile("{" + kGoodEntry + "," + kGoodEntry + "}", 8),
       "duplicate name \"a\""},
      {"duplicate_key",
       MakeFile(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
       "duplicate key \"dtype\""},
      {"unknown_key",
       MakeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8),
       "unknown key \"x\""},
      {"missing_key", MakeFile(R"({"a":{"dtype":"F32","shape":[2]}})", 0),
       "has no \"data_offsets\""},
      {"metadata_value_not_string", MakeFile(R"({"__metadata__":{"k":1}})", 0),
       "__metadata__ value of \"k\" is not a string"},
      {"metadata_nested_object", MakeFile(R"({"__metadata__":{"k":{"x":"y"}}})", 0),
       "is not a string"},
      {"metadata_not_object", MakeFile(R"({"__metadata__":"x"})", 0), "to open __metadata__"},
      {"metadata_duplicate_key", MakeFile(R"({"__metadata__":{"k":"1","k":"2"}})", 0),
       "duplicate __metadata__ key \"k\""},
      {"metadata_twice", MakeFile(R"({"__metadata__":{},"__metadata__":{}})", 0),
       "duplicate name \"__metadata__\""},
      {"tensor_entry_not_object", MakeFile(R"({"a":[0,8]})", 8), "to open the entry"},
  };
}

class CorruptTest : public SafetensorsTest, public ::testing::WithParamInterface<CorruptCase> {};

TEST_P(CorruptTest, IsRefusedWithAMessageNamingTheProblem) {
  const CorruptCase& c = GetParam();
  const std::string path = WriteBytes("corrupt.safetensors", c.bytes);
  absl::StatusOr<SafetensorsFile> loaded = LoadSafetensors(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(StartsWith(path + ": "), HasSubstr(c.needle)));
}

INSTANTIATE_TEST_SUITE_P(Cases, CorruptTest, ::testing::ValuesIn(CorruptCases()),
                         [](const ::testing::TestParamInfo<CorruptCase>& info) {
                           return info.param.name;
                         });

TEST_F(SafetensorsTest, TruncatedCopiesOfAGoodFileAreAllRefused) {
  const std::string path = Path("good.safetensors");
  ASSERT_TRUE(SaveSafetensors(path, {{"w", Ones({3, 5})}, {"b", Zeros({5})}}).ok());
  const std::string bytes = ReadBytes(path);
  for (size_t keep = 0; keep < bytes.size(); ++keep) {
    const std::string cut = WriteBytes("cut.safetensors", bytes.substr(0, keep));
    EXPECT_FALSE(LoadSafetensors(cut).ok()) << "kept " << keep << " of " << bytes.size();
  }
  EXPECT_TRUE(LoadSafetensors(path).ok());
}

// Random damage to a good file must be refused or loaded consistently, never
// crash or read out of bounds (run under the asan preset to see the latter).
TEST_F(SafetensorsTest, RandomlyDamagedFilesNeverCrash) {
  const std::string path = Path("good.safetensors");
  ASSERT_TRUE(SaveSafetensors(
                  path,
                  {{"w", Ones({3, 5})}, {"b", Labels({1, 2})}, {"s", Scalar(1, DType::kFloat64)}},
                  {{"k", "v"}})
                  .ok());
  const std::string good = ReadBytes(path);
  std::mt19937 engine(99);
  int refused = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(engine() % 3);
    for (int f = 0; f < flips; ++f) {
      // Aim most damage at the length and the header, where parsing happens.
      const size_t at = engine() % 4 == 0 ? engine() % bytes.size()
                                          : engine() % std::min<size_t>(bytes.size(), 120);
      bytes[at] = static_cast<char>(engine());
    }
    const std::string damaged = WriteBytes("damaged.safetensors", bytes);
    absl::StatusOr<SafetensorsFile> loaded = LoadSafetensors(damaged);
    if (!loaded.ok()) {
      ++refused;
      EXPECT_THAT(std::string(loaded.status().message()), StartsWith(damaged + ": "));
      continue;
    }
    int64_t bytes_loaded = 0;
    for (const auto& [name, t] : loaded->tensors) {
      bytes_loaded += t.numel() * static_cast<int64_t>(DTypeSize(t.dtype()));
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    EXPECT_EQ(bytes_loaded, static_cast<int64_t>(bytes.size() - 8 - n));
  }
  EXPECT_GT(refused, 200);
}

TEST_F(SafetensorsTest, JsonErrorNamesTheByteOffset) {
  const std::string json = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]x}})";
  const std::string path = WriteBytes("offset.safetensors", MakeFile(json, 8));
  absl::StatusOr<SafetensorsFile> loaded = LoadSafetensors(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr(absl::StrCat("header byte ", json.find('x'), ": ")));
}

TEST_F(SafetensorsTest, MissingFileAndDirectory) {
  absl::StatusOr<SafetensorsFile> missing = LoadSafetensors(Path("nope.safetensors"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(Path("nope.safetensors")));

  absl::StatusOr<SafetensorsFile> dir = LoadSafetensors(dir_);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SafetensorsTest, SaveOverAnExistingFileLeavesACompleteFileAndNoTempFile) {
  const std::string path = Path("model.safetensors");
  ASSERT_TRUE(SaveSafetensors(path, {{"big", Ones({100, 100})}}).ok());
  const Tensor small = FromValues({1, 2, 3});
  ASSERT_TRUE(SaveSafetensors(path, {{"small", small}}, {{"v", "2"}}).ok());
  EXPECT_THAT(DirEntries(), ElementsAre("model.safetensors"));
  absl::StatusOr<SafetensorsFile> loaded = LoadSafetensors(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->tensors.size(), 1u);
  EXPECT_EQ(loaded->tensors[0].first, "small");
  EXPECT_EQ(RawBytes(loaded->tensors[0].second), RawBytes(small));
  EXPECT_EQ(loaded->metadata.at("v"), "2");
}

TEST_F(SafetensorsTest, FailedSaveRemovesItsTempFileAndNamesThePath) {
  // A directory is never replaced by a file.
  const std::string target = Path("is_a_directory");
  std::filesystem::create_directory(target);
  absl::Status status = SaveSafetensors(target, {{"w", Ones({4})}});
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(
      std::string(status.message()),
      AllOf(StartsWith(target + ": "), HasSubstr("is a directory; refusing to replace it")));
  EXPECT_THAT(DirEntries(), ElementsAre("is_a_directory"));

  const std::string nowhere = Path("missing_dir/model.safetensors");
  status = SaveSafetensors(nowhere, {{"w", Ones({4})}});
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith(nowhere + ": "), HasSubstr("No such file or directory")));
}

TEST_F(SafetensorsTest, InvalidArgumentsWriteNothing) {
  const std::string path = Path("never.safetensors");
  const Tensor t = Ones({2});
  struct Case {
    std::vector<std::pair<std::string, Tensor>> tensors;
    std::map<std::string, std::string> metadata;
    const char* needle;
  };
  const Case cases[] = {
      {{{"a", t}, {"a", t}}, {}, "two tensors are named \"a\""},
      {{{"__metadata__", t}}, {}, "is reserved"},
      {{{"", t}}, {}, "is empty"},
      {{{"a\xff", t}}, {}, "not UTF-8"},
      {{{"a", Tensor()}}, {}, "is undefined"},
      {{{"a", t}}, {{"k", "\xc3"}}, "metadata entry \"k\" is not UTF-8"},
  };
  for (const Case& c : cases) {
    absl::Status status = SaveSafetensors(path, c.tensors, c.metadata);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.needle;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.needle));
  }
  EXPECT_TRUE(DirEntries().empty());
}

TEST_F(SafetensorsTest, ParseHeaderReportsEntriesSortedByName) {
  absl::StatusOr<SafetensorsHeader> header =
      ParseSafetensorsHeader(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("a":{"dtype":"I64","shape":[1,1],"data_offsets":[4,12]}})",
                             12, "mem");
  ASSERT_TRUE(header.ok()) << header.status();
  ASSERT_EQ(header->entries.size(), 2u);
  EXPECT_EQ(header->entries[0].name, "a");
  EXPECT_EQ(header->entries[0].dtype, "I64");
  EXPECT_THAT(header->entries[0].shape, ElementsAre(1, 1));
  EXPECT_EQ(header->entries[0].begin, 4);
  EXPECT_EQ(header->entries[1].end, 4);
}

}  // namespace
}  // namespace actgrad::io
