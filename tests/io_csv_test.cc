#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/generator.h"
#include "io/csv.h"

namespace actgrad::io {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A fresh directory per test under GoogleTest's temporary directory.
class CsvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "io_csv_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << pattern;
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::permissions(dir_ + "/unreadable.csv", std::filesystem::perms::owner_all,
                                 ignored);
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream out(path, std::ios::binary);
    out << content;
    EXPECT_TRUE(out.good()) << path;
    return path;
  }

  std::string dir_;
};

// The source tree's data/ folder, found from this file's path so that the
// test does not depend on the directory it runs in.
std::string DataPath(const std::string& name) {
  return (std::filesystem::path(__FILE__).parent_path().parent_path() / "data" / name).string();
}

TEST_F(CsvTest, ReadsHeaderFeaturesAndLastColumnAsTarget) {
  const std::string path = Write("simple.csv", "a,b,label\n1,2,0\n3.5,-4e2,1\n");
  absl::StatusOr<Dataset> data = ReadCsv(path);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->feature_names, ElementsAre("a", "b"));
  EXPECT_EQ(data->target_name, "label");
  EXPECT_EQ(data->rows, 2);
  EXPECT_EQ(data->features, 2);
  EXPECT_THAT(data->x, ElementsAre(1, 2, 3.5, -400));
  EXPECT_THAT(data->y, ElementsAre(0, 1));
  EXPECT_EQ(data->source, path);
}

TEST_F(CsvTest, TargetColumnOptionPicksAMiddleColumn) {
  const std::string path = Write("middle.csv", "a,t,b\n1,9,2\n3,8,4\n");
  absl::StatusOr<Dataset> data = ReadCsv(path, {.target_column = "t"});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->feature_names, ElementsAre("a", "b"));
  EXPECT_EQ(data->target_name, "t");
  EXPECT_THAT(data->x, ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(data->y, ElementsAre(9, 8));
}

// Files that must parse, and what they hold. Every one has the columns
// (a, b) as features and the last column as target.
struct GoodCase {
  const char* name;
  std::string content;
  std::vector<std::string> feature_names;
  std::vector<double> x;
  std::vector<double> y;
};

// Failure output names the case instead of dumping its bytes.
void PrintTo(const GoodCase& c, std::ostream* os) { *os << c.name; }

class CsvGoodTest : public CsvTest, public ::testing::WithParamInterface<GoodCase> {};

TEST_P(CsvGoodTest, Parses) {
  const GoodCase& c = GetParam();
  absl::StatusOr<Dataset> data = ReadCsv(Write("good.csv", c.content));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->feature_names, ElementsAreArray(c.feature_names));
  EXPECT_THAT(data->x, ElementsAreArray(c.x));
  EXPECT_THAT(data->y, ElementsAreArray(c.y));
  EXPECT_EQ(data->rows, static_cast<int64_t>(c.y.size()));
}

INSTANTIATE_TEST_SUITE_P(
    Variants, CsvGoodTest,
    ::testing::Values(
        GoodCase{"crlf", "a,b,y\r\n1,2,3\r\n4,5,6\r\n", {"a", "b"}, {1, 2, 4, 5}, {3, 6}},
        GoodCase{"bare_cr", "a,b,y\r1,2,3\r4,5,6\r", {"a", "b"}, {1, 2, 4, 5}, {3, 6}},
        GoodCase{"bom",
                 "\xEF\xBB\xBF"
                 "a,b,y\n1,2,3\n",
                 {"a", "b"},
                 {1, 2},
                 {3}},
        GoodCase{"no_final_newline", "a,b,y\n1,2,3", {"a", "b"}, {1, 2}, {3}},
        GoodCase{"blank_lines_at_end", "a,b,y\n1,2,3\n\n  \n\r\n\n", {"a", "b"}, {1, 2}, {3}},
        GoodCase{"spaces_around_numbers", "a, b ,y\n  1 ,\t2\t, 3  \n", {"a", "b"}, {1, 2}, {3}},
        GoodCase{"quoted_header_with_escapes",
                 "\"a \"\"x\"\"\",\"b,c\",y\n1,2,3\n",
                 {"a \"x\"", "b,c"},
                 {1, 2},
                 {3}},
        GoodCase{"quoted_numbers", "a,b,y\n\"1\", \"2.5\" ,\"3\"\n", {"a", "b"}, {1, 2.5}, {3}},
        GoodCase{"quoted_header_spanning_lines",
                 "\"a\nb\",c,y\r\n1,2,3\r\n",
                 {"a\nb", "c"},
                 {1, 2},
                 {3}},
        GoodCase{"number_forms",
                 "a,b,y\n+1.5,-0.25e1,1E3\n.5,5.,-0\n1e-400,2,3\n",
                 {"a", "b"},
                 {1.5, -2.5, 0.5, 5, 0, 2},
                 {1000, -0.0, 3}},
        GoodCase{"utf8_names",
                 "\xC3\xA9t\xC3\xA9,b,y\n1,2,3\n",
                 {"\xC3\xA9t\xC3\xA9", "b"},
                 {1, 2},
                 {3}}),
    [](const ::testing::TestParamInfo<GoodCase>& info) { return info.param.name; });

// Files that must be refused, with what the message has to say. In `needles`
// "PATH" stands for the file's path.
struct BadCase {
  const char* name;
  std::string content;
  std::string target_column;
  std::vector<std::string> needles;
};

// Failure output names the case instead of dumping its bytes.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class CsvBadTest : public CsvTest, public ::testing::WithParamInterface<BadCase> {};

TEST_P(CsvBadTest, IsRefusedWithAMessageThatSaysWhere) {
  const BadCase& c = GetParam();
  const std::string path = Write("bad.csv", c.content);
  absl::StatusOr<Dataset> data = ReadCsv(path, {.target_column = c.target_column});
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(data.status().message());
  EXPECT_THAT(message, StartsWith(path + ":"));
  for (std::string needle : c.needles) {
    if (needle.starts_with("PATH")) needle.replace(0, 4, path);
    EXPECT_THAT(message, HasSubstr(needle));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CsvBadTest,
    ::testing::Values(
        BadCase{"empty_file", "", "", {"PATH: the file is empty"}},
        BadCase{"only_bom_and_newlines", "\xEF\xBB\xBF\r\n\n", "", {"empty"}},
        BadCase{"header_only", "a,b,y\n", "", {"no data rows"}},
        BadCase{"header_only_then_blank_lines", "a,b,y\r\n\r\n\r\n", "", {"no data rows"}},
        BadCase{"first_line_blank", "\na,b,y\n1,2,3\n", "", {"PATH:1:", "blank"}},
        BadCase{"too_few_fields",
                "a,b,y\n1,2,3\n4,5\n",
                "",
                {"PATH:3:4: expected 3 fields (as in the header), found 2"}},
        BadCase{"too_many_fields",
                "a,b,y\n1,2,3,4\n",
                "",
                {"PATH:2:7: expected 3 fields (as in the header), found 4"}},
        BadCase{"not_a_number",
                "a,b,y\n1,2,3\n1,abc,3\n",
                "",
                {"PATH:3:3: \"abc\" is not a number (column \"b\")"}},
        BadCase{"number_with_junk", "a,b,y\n1,2x,3\n", "", {"\"2x\" is not a number"}},
        BadCase{"hex_is_not_a_number", "a,b,y\n0x10,2,3\n", "", {"\"0x10\" is not a number"}},
        BadCase{"empty_cell", "a,b,y\n1,,3\n", "", {"PATH:2:3: empty cell", "(column \"b\")"}},
        BadCase{"nan",
                "a,b,y\nnan,2,3\n",
                "",
                {"PATH:2:1: \"nan\" is not a finite number (column \"a\")"}},
        BadCase{"inf_target",
                "a,b,y\n1,2,-inf\n",
                "",
                {"\"-inf\" is not a finite number (column \"y\")"}},
        BadCase{"overflow", "a,b,y\n1e999,2,3\n", "", {"\"1e999\" is not a finite number"}},
        BadCase{"unknown_target",
                "a,b,y\n1,2,3\n",
                "label",
                {"PATH:1: no target column named \"label\"", "\"a\", \"b\", \"y\""}},
        BadCase{"target_case_hint", "a,b,Label\n1,2,3\n", "label", {"did you mean \"Label\""}},
        BadCase{"duplicate_header",
                "a,b,a,y\n1,2,3,4\n",
                "",
                {"PATH:1:5: duplicate column name \"a\" (also column 1)"}},
        BadCase{"empty_header_name", "a,,y\n1,2,3\n", "", {"column 2 has an empty name"}},
        BadCase{"single_column", "y\n1\n", "", {"at least one feature column"}},
        BadCase{"blank_line_inside",
                "a,b,y\n1,2,3\n\n4,5,6\n",
                "",
                {"PATH:3: blank line inside the data"}},
        BadCase{"unterminated_quote",
                "a,b,y\n1,\"2,3\n4,5,6\n",
                "",
                {"PATH:2:3: quoted field is never closed"}},
        BadCase{"junk_after_quote",
                "a,b,y\n1,\"2\"x,3\n",
                "",
                {"PATH:2:6: unexpected \"x\" after the closing quote"}},
        BadCase{"line_numbers_count_quoted_newlines",
                "\"a\n\nb\",c,y\n1,oops,2\n",
                "",
                {"PATH:4:3: \"oops\" is not a number (column \"c\")"}},
        BadCase{"long_cell_is_truncated",
                "a,b,y\n1," + std::string(100, 'z') + ",3\n",
                "",
                {"\"" + std::string(40, 'z') + "\"... (100 bytes) is not a number"}},
        BadCase{"control_bytes_are_escaped",
                "a,b,y\n1,\x01\x7f,3\n",
                "",
                {"\"\\x01\\x7f\" is not a number"}},
        BadCase{"nul_byte",
                std::string("a,b,y\n1,2\0,3\n", 13),
                "",
                {"PATH:2:4: NUL byte: this is a binary file"}},
        BadCase{"header_not_utf8", "a\xff,b,y\n1,2,3\n", "", {"is not UTF-8"}}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.name; });

TEST_F(CsvTest, MessageHasTheHouseFormatExactly) {
  const std::string path = Write("data.csv", "mean_radius,y\n1,0\n2,1\nabc,0\n");
  absl::StatusOr<Dataset> data = ReadCsv(path);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().message(),
            absl::StrCat(path, ":4:1: \"abc\" is not a number (column \"mean_radius\")"));
}

TEST_F(CsvTest, MissingFileIsNotFoundAndNamesThePath) {
  const std::string path = dir_ + "/no_such_file.csv";
  absl::StatusOr<Dataset> data = ReadCsv(path);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(data.status().message()),
              AllOf(HasSubstr(path), HasSubstr("No such file")));
}

TEST_F(CsvTest, DirectoryIsInvalidArgument) {
  absl::StatusOr<Dataset> data = ReadCsv(dir_);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(data.status().message()),
              AllOf(HasSubstr(dir_), HasSubstr("is a directory")));
}

TEST_F(CsvTest, FifoIsRefusedWithoutBlocking) {
  const std::string path = dir_ + "/fifo.csv";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0) << std::strerror(errno);
  absl::StatusOr<Dataset> data = ReadCsv(path);
  ASSERT_FALSE(data.ok());
  EXPECT_THAT(std::string(data.status().message()),
              AllOf(HasSubstr(path), HasSubstr("not a regular file")));
}

TEST_F(CsvTest, UnreadableFileIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  const std::string path = Write("unreadable.csv", "a,y\n1,2\n");
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  absl::StatusOr<Dataset> data = ReadCsv(path);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(data.status().message()), HasSubstr(path));
}

// /proc/self/mem is a regular file that opens but whose first page fails to
// read (it is unmapped), even for root: the read error path, exercised.
TEST_F(CsvTest, ReadErrorIsReportedWithThePath) {
  absl::StatusOr<Dataset> data = ReadCsv("/proc/self/mem");
  ASSERT_FALSE(data.ok());
  EXPECT_THAT(std::string(data.status().message()),
              AllOf(HasSubstr("/proc/self/mem"), HasSubstr("read failed")));
}

TEST_F(CsvTest, TenMegabyteLineOfNumbersParses) {
  constexpr int kColumns = 1'000'000;
  std::string header;
  std::string row;
  header.reserve(9 * kColumns);
  row.reserve(4 * kColumns);
  for (int j = 0; j < kColumns; ++j) {
    absl::StrAppend(&header, j == 0 ? "" : ",", "c", j);
    absl::StrAppend(&row, j == 0 ? "" : ",", j % 7, ".5");
  }
  ASSERT_GT(header.size(), 6'000'000u);
  absl::StatusOr<Dataset> data = ReadCsv(Write("wide.csv", header + "\n" + row + "\n"));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->rows, 1);
  EXPECT_EQ(data->features, kColumns - 1);
  EXPECT_EQ(data->target_name, absl::StrCat("c", kColumns - 1));
  EXPECT_EQ(data->x[kColumns - 2], (kColumns - 2) % 7 + 0.5);
}

TEST_F(CsvTest, TenMegabyteCellFailsWithAShortMessage) {
  const std::string cell(10 << 20, '7');
  absl::StatusOr<Dataset> data = ReadCsv(Write("long_cell.csv", "a,y\n" + cell + "x,1\n"));
  ASSERT_FALSE(data.ok());
  const std::string message(data.status().message());
  EXPECT_THAT(message, HasSubstr(absl::StrCat("(", cell.size() + 1, " bytes) is not a number")));
  EXPECT_LT(message.size(), 300u);
}

TEST_F(CsvTest, BinaryGarbageIsRefusedCleanly) {
  std::mt19937 engine(1234);
  std::string garbage(1 << 16, '\0');
  for (char& c : garbage) c = static_cast<char>(engine());
  std::string no_nul = garbage;
  std::replace(no_nul.begin(), no_nul.end(), '\0', '\x01');
  for (const std::string& content : {garbage, no_nul}) {
    const std::string path = Write("garbage.bin", content);
    absl::StatusOr<Dataset> data = ReadCsv(path);
    ASSERT_FALSE(data.ok());
    EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(data.status().message()), StartsWith(path + ":"));
    EXPECT_LT(data.status().message().size(), 500u) << data.status();
  }
}

// Random damage to a good file must give a data set or a located message,
// never a crash (run under the asan preset to catch out-of-bounds reads).
TEST(CsvDamageTest, RandomlyDamagedTextNeverCrashes) {
  const std::string good = "\xEF\xBB\xBF\"a\",b,y\r\n1,\"2\"\"\",3\r\n4,5,6\r\n";
  const std::string alphabet = std::string("\",\r\n \t0123456789.e-+xa\xEF\xBB\xBF") + '\0';
  std::mt19937 engine(7);
  for (int trial = 0; trial < 5000; ++trial) {
    std::string text = good;
    const int edits = 1 + static_cast<int>(engine() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = engine() % text.size();
      switch (engine() % 3) {
        case 0:
          text[at] = alphabet[engine() % alphabet.size()];
          break;
        case 1:
          text.erase(at, 1);
          break;
        default:
          text.insert(at, 1, alphabet[engine() % alphabet.size()]);
          break;
      }
    }
    absl::StatusOr<Dataset> data = ParseCsv(text, "fuzz.csv");
    if (data.ok()) {
      EXPECT_EQ(data->x.size(), static_cast<size_t>(data->rows * data->features));
      EXPECT_EQ(data->y.size(), static_cast<size_t>(data->rows));
      EXPECT_EQ(data->feature_names.size(), static_cast<size_t>(data->features));
    } else {
      EXPECT_THAT(std::string(data.status().message()), StartsWith("fuzz.csv:"));
    }
  }
}

TEST(DatasetTest, FeaturesTargetsAndSubset) {
  absl::StatusOr<Dataset> data = ParseCsv("a,b,y\n1,2,0\n3,4,1\n5,6,2\n", "mem.csv");
  ASSERT_TRUE(data.ok()) << data.status();

  Tensor x = data->Features();
  EXPECT_EQ(x.shape(), Shape({3, 2}));
  EXPECT_EQ(x.dtype(), DType::kFloat32);
  EXPECT_THAT(x.ToVector(), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(data->Features(DType::kFloat64).dtype(), DType::kFloat64);

  Tensor labels = data->Targets(DType::kInt64);
  EXPECT_EQ(labels.dtype(), DType::kInt64);
  EXPECT_THAT(
      std::vector<int64_t>(labels.values<int64_t>().begin(), labels.values<int64_t>().end()),
      ElementsAre(0, 1, 2));

  const std::vector<int64_t> rows = {2, 0, 2};
  Dataset subset = data->Subset(rows);
  EXPECT_EQ(subset.rows, 3);
  EXPECT_THAT(subset.x, ElementsAre(5, 6, 1, 2, 5, 6));
  EXPECT_THAT(subset.y, ElementsAre(2, 0, 2));
  EXPECT_EQ(subset.feature_names, data->feature_names);

  const std::vector<int64_t> outside = {3};
  EXPECT_THROW(data->Subset(outside), Error);
}

TEST(DatasetTest, Int64TargetsRefuseFractions) {
  absl::StatusOr<Dataset> data = ParseCsv("a,y\n1,0.5\n", "mem.csv");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THROW(data->Targets(DType::kInt64), Error);
  EXPECT_EQ(data->Targets(DType::kFloat64).item(), 0.5);
}

// --- Real data ----------------------------------------------------------------

TEST(RealDataTest, BreastCancer) {
  const std::string path = DataPath("breast_cancer.csv");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not there";
  absl::StatusOr<Dataset> data = ReadCsv(path, {.target_column = "benign"});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->rows, 569);
  EXPECT_EQ(data->features, 30);
  EXPECT_EQ(data->target_name, "benign");
  EXPECT_EQ(data->feature_names.front(), "mean_radius");
  EXPECT_EQ(std::count(data->y.begin(), data->y.end(), 0.0), 212);
  EXPECT_EQ(std::count(data->y.begin(), data->y.end(), 1.0), 357);
  EXPECT_DOUBLE_EQ(data->x[0], 17.99);  // the first cell of the file

  // As scikit-learn splits it: ceil(569 * 0.2) = 114 test rows; shares
  // 42.47 and 71.53 give 42 and 71, and the one left over goes to the
  // larger remainder (benign).
  Split split = StratifiedSplit(data->y, 0.2, 0);
  EXPECT_EQ(split.test.size(), 114u);
  EXPECT_EQ(split.train.size(), 455u);
  int64_t test_benign = 0;
  for (int64_t r : split.test) test_benign += data->y[r] == 1.0;
  EXPECT_EQ(test_benign, 72);
}

TEST(RealDataTest, Digits) {
  const std::string path = DataPath("digits.csv");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not there";
  absl::StatusOr<Dataset> data = ReadCsv(path);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->rows, 1797);
  EXPECT_EQ(data->features, 64);
  EXPECT_EQ(data->target_name, "digit");
  EXPECT_EQ(std::set<double>(data->y.begin(), data->y.end()).size(), 10u);
}

// --- Splits and batches ----------------------------------------------------------

void ExpectPartition(const Split& split, int64_t rows) {
  std::vector<int64_t> all = split.train;
  all.insert(all.end(), split.test.begin(), split.test.end());
  std::sort(all.begin(), all.end());
  std::vector<int64_t> expected(rows);
  for (int64_t i = 0; i < rows; ++i) expected[i] = i;
  EXPECT_EQ(all, expected) << "train and test must cover every row exactly once";
}

TEST(SplitTest, StratifiedKeepsEachClassShare) {
  // Classes of 10, 7 and 3 rows, interleaved.
  std::vector<double> labels;
  for (int i = 0; i < 10; ++i) labels.push_back(0);
  for (int i = 0; i < 7; ++i) labels.push_back(5);
  for (int i = 0; i < 3; ++i) labels.push_back(-1);
  std::mt19937 engine(3);
  std::shuffle(labels.begin(), labels.end(), engine);

  Split split = StratifiedSplit(labels, 0.3, 42);
  ExpectPartition(split, 20);
  std::map<double, int> test_count;
  for (int64_t r : split.test) ++test_count[labels[r]];
  // 6 test rows: floors 3, 2 and 0, and the one left over goes to the class
  // with the largest remainder (3 * 0.3 = 0.9).
  EXPECT_EQ(test_count[0], 3);
  EXPECT_EQ(test_count[5], 2);
  EXPECT_EQ(test_count[-1], 1);
}

TEST(SplitTest, StratifiedIsDeterministicAndSeedDependent) {
  std::vector<double> labels(200);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<double>(i % 3);
  Split a = StratifiedSplit(labels, 0.25, 7);
  Split b = StratifiedSplit(labels, 0.25, 7);
  Split c = StratifiedSplit(labels, 0.25, 8);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.test, b.test);
  EXPECT_NE(a.test, c.test);
  // Shuffled, not grouped by class: the first ten test rows are not all one class.
  std::set<double> first_classes;
  for (int i = 0; i < 10; ++i) first_classes.insert(labels[a.test[i]]);
  EXPECT_GT(first_classes.size(), 1u);
}

TEST(SplitTest, StratifiedEdgeFractionsAndMisuse) {
  const std::vector<double> labels = {0, 1, 0, 1, 1};
  EXPECT_TRUE(StratifiedSplit(labels, 0.0, 1).test.empty());
  EXPECT_TRUE(StratifiedSplit(labels, 1.0, 1).train.empty());
  EXPECT_THROW(StratifiedSplit(labels, 1.5, 1), Error);
  EXPECT_THROW(StratifiedSplit(labels, -0.1, 1), Error);
  const std::vector<double> with_nan = {0, std::nan("")};
  EXPECT_THROW(StratifiedSplit(with_nan, 0.5, 1), Error);
}

TEST(SplitTest, RandomSplit) {
  Split split = RandomSplit(10, 0.25, 3);
  EXPECT_EQ(split.test.size(), 3u);  // round(2.5) rounds half away from zero
  ExpectPartition(split, 10);
  Split again = RandomSplit(10, 0.25, 3);
  EXPECT_EQ(split.train, again.train);
  EXPECT_EQ(split.test, again.test);
  Split big = RandomSplit(1000, 0.1, 3);
  EXPECT_EQ(big.test.size(), 100u);
  EXPECT_FALSE(std::is_sorted(big.train.begin(), big.train.end()));
  EXPECT_THROW(RandomSplit(10, 2.0, 3), Error);
}

TEST(BatchTest, BatchesCoverEveryRowOnceAndOnlyTheLastIsSmaller) {
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < 103; ++i) rows.push_back(1000 + i);
  Generator gen(5);
  std::vector<std::vector<int64_t>> batches = ShuffledBatches(rows, 10, gen);
  ASSERT_EQ(batches.size(), 11u);
  for (size_t b = 0; b + 1 < batches.size(); ++b) EXPECT_EQ(batches[b].size(), 10u);
  EXPECT_EQ(batches.back().size(), 3u);
  std::vector<int64_t> seen;
  for (const auto& batch : batches) seen.insert(seen.end(), batch.begin(), batch.end());
  EXPECT_NE(seen, rows) << "batches should be shuffled";
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, rows);

  // The next epoch draws a different order from the same generator.
  std::vector<std::vector<int64_t>> next = ShuffledBatches(rows, 10, gen);
  EXPECT_NE(next, batches);
  Generator same(5);
  EXPECT_EQ(ShuffledBatches(rows, 10, same), batches);
}

TEST(BatchTest, EdgeCases) {
  Generator gen(1);
  EXPECT_TRUE(ShuffledBatches({}, 4, gen).empty());
  const std::vector<int64_t> rows = {1, 2, 3};
  EXPECT_EQ(ShuffledBatches(rows, 100, gen).size(), 1u);
  EXPECT_THROW(ShuffledBatches(rows, 0, gen), Error);
}

}  // namespace
}  // namespace actgrad::io
