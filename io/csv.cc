#include "io/csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "io/file.h"
#include "io/text.h"

namespace actgrad::io {

namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

absl::string_view StripBlanks(absl::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

struct Cell {
  std::string text;
  int64_t line = 0;
  int64_t column = 0;
  bool quoted = false;
};

// Splits RFC 4180 text into records, keeping the line and column where each
// cell starts so that every later error can point at it.
class Tokenizer {
 public:
  Tokenizer(absl::string_view text, absl::string_view source) : text_(text), source_(source) {}

  // Reads the next record into `cells` (reusing their buffers); false at the
  // end of the input.
  absl::StatusOr<bool> Next(std::vector<Cell>& cells, size_t& count) {
    count = 0;
    if (pos_ >= text_.size()) return false;
    while (true) {
      if (count == cells.size()) cells.emplace_back();
      Cell& cell = cells[count++];
      cell.text.clear();
      cell.line = line_;
      cell.column = Column(pos_);
      cell.quoted = false;

      size_t p = pos_;
      while (p < text_.size() && IsBlank(text_[p])) ++p;
      if (p < text_.size() && text_[p] == '"') {
        const int64_t quote_line = line_;
        const int64_t quote_column = Column(p);
        ++p;
        while (true) {
          const size_t quote = text_.find('"', p);
          const size_t chunk_end = quote == absl::string_view::npos ? text_.size() : quote;
          for (size_t i = p; i < chunk_end; ++i) {
            if (text_[i] == '\n') NewLine(i + 1);
          }
          cell.text.append(text_.data() + p, chunk_end - p);
          if (quote == absl::string_view::npos) {
            return absl::InvalidArgumentError(absl::StrCat(
                source_, ":", quote_line, ":", quote_column,
                ": quoted field is never closed (no matching '\"' before the end of the file)"));
          }
          if (quote + 1 < text_.size() && text_[quote + 1] == '"') {
            cell.text.push_back('"');
            p = quote + 2;
            continue;
          }
          p = quote + 1;
          break;
        }
        while (p < text_.size() && IsBlank(text_[p])) ++p;
        if (p < text_.size() && text_[p] != ',' && text_[p] != '\n' && text_[p] != '\r') {
          return absl::InvalidArgumentError(
              absl::StrCat(source_, ":", line_, ":", Column(p), ": unexpected ",
                           QuoteForMessage(text_.substr(p, 1)),
                           " after the closing quote of a field (a quote inside a quoted field is "
                           "written \"\")"));
        }
        cell.quoted = true;
      } else {
        const size_t end = std::min(text_.find_first_of(",\r\n", pos_), text_.size());
        cell.text.assign(text_.data() + pos_, end - pos_);
        p = end;
      }

      pos_ = p;
      if (pos_ >= text_.size()) return true;
      const char c = text_[pos_++];
      if (c == ',') continue;
      if (c == '\r' && pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
      NewLine(pos_);
      return true;
    }
  }

  int64_t line() const { return line_; }
  int64_t Column(size_t pos) const { return static_cast<int64_t>(pos - line_start_) + 1; }
  size_t pos() const { return pos_; }

 private:
  void NewLine(size_t next_line_start) {
    ++line_;
    line_start_ = next_line_start;
  }

  absl::string_view text_;
  absl::string_view source_;
  size_t pos_ = 0;
  size_t line_start_ = 0;
  int64_t line_ = 1;
};

bool IsBlankRecord(const std::vector<Cell>& cells, size_t count) {
  return count == 1 && !cells[0].quoted && StripBlanks(cells[0].text).empty();
}

// Parses a whole cell as a finite double; on failure returns why, in words
// that follow the quoted cell in the message.
std::optional<std::string> ParseNumber(absl::string_view cell, double& value) {
  absl::string_view s = StripBlanks(cell);
  if (s.empty()) return std::string("empty cell, expected a number");
  // from_chars refuses a leading '+', which spreadsheets write.
  if (s.size() > 1 && s[0] == '+' && s[1] != '-' && s[1] != '+') s.remove_prefix(1);
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  const std::from_chars_result r = std::from_chars(begin, end, value);
  if (r.ptr != end || (r.ec != std::errc() && r.ec != std::errc::result_out_of_range)) {
    return std::string("is not a number");
  }
  if (r.ec == std::errc::result_out_of_range) {
    // from_chars leaves value unset both for overflow and for underflow;
    // strtod tells them apart (it is only reached for text from_chars already
    // accepted as a number, so its locale cannot change the verdict).
    value = std::strtod(std::string(s).c_str(), nullptr);
  }
  if (!std::isfinite(value)) return std::string("is not a finite number");
  return std::nullopt;
}

std::string ListColumns(const std::vector<Cell>& header, size_t count) {
  constexpr size_t kMaxListed = 12;
  std::string out;
  for (size_t i = 0; i < std::min(count, kMaxListed); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ", ", QuoteForMessage(header[i].text));
  }
  if (count > kMaxListed) absl::StrAppend(&out, ", ... (", count, " columns in all)");
  return out;
}

}  // namespace

Tensor Dataset::Features(DType dtype) const {
  return FromValues(std::span<const double>(x), Shape{rows, features}, dtype);
}

Tensor Dataset::Targets(DType dtype, std::source_location location) const {
  if (dtype == DType::kInt64) {
    for (int64_t i = 0; i < rows; ++i) {
      const double v = y[i];
      // 2^63 is the first double outside int64.
      ACTGRAD_REQUIRE(v == std::trunc(v) && std::fabs(v) < 0x1p63, location,
                      "Dataset::Targets: target ", v, " of row ", i, " (", source, ", column \"",
                      target_name,
                      "\") is not a whole number, so it cannot be an int64 class label");
    }
  }
  return FromValues(std::span<const double>(y), Shape{rows}, dtype, location);
}

Dataset Dataset::Subset(std::span<const int64_t> row_indices, std::source_location location) const {
  Dataset out;
  out.feature_names = feature_names;
  out.target_name = target_name;
  out.target_labels = target_labels;
  out.source = source;
  out.features = features;
  out.rows = static_cast<int64_t>(row_indices.size());
  out.x.reserve(row_indices.size() * features);
  out.y.reserve(row_indices.size());
  for (int64_t r : row_indices) {
    ACTGRAD_REQUIRE(r >= 0 && r < rows, location, "Dataset::Subset: row ", r, " is outside the ",
                    rows, " rows of ", source);
    out.x.insert(out.x.end(), x.begin() + r * features, x.begin() + (r + 1) * features);
    out.y.push_back(y[r]);
  }
  return out;
}

absl::StatusOr<Dataset> ReadCsv(const std::string& path, const CsvOptions& options) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseCsv(*text, path, options);
}

absl::StatusOr<Dataset> ParseCsv(absl::string_view text, absl::string_view source,
                                 const CsvOptions& options) {
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) text.remove_prefix(3);

  // A NUL never occurs in text; saying "binary" beats a confusing complaint
  // about field counts or numbers further on.
  if (const size_t nul = text.find('\0'); nul != absl::string_view::npos) {
    const absl::string_view before = text.substr(0, nul);
    const int64_t line = std::count(before.begin(), before.end(), '\n') + 1;
    const size_t line_start = before.rfind('\n');
    const int64_t column =
        static_cast<int64_t>(line_start == absl::string_view::npos ? nul + 1 : nul - line_start);
    return absl::InvalidArgumentError(absl::StrCat(
        source, ":", line, ":", column, ": NUL byte: this is a binary file, not CSV text"));
  }
  if (StripBlanks(text).find_first_not_of("\r\n") == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the file is empty; expected a header row and data rows"));
  }

  Tokenizer tokenizer(text, source);
  std::vector<Cell> header;
  size_t columns = 0;
  absl::StatusOr<bool> more = tokenizer.Next(header, columns);
  if (!more.ok()) return more.status();
  if (IsBlankRecord(header, columns)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":1: the first line is blank; expected the header row"));
  }
  header.resize(columns);

  absl::flat_hash_map<absl::string_view, size_t> index_of;
  index_of.reserve(columns);
  for (size_t j = 0; j < columns; ++j) {
    Cell& cell = header[j];
    if (!cell.quoted) cell.text = std::string(StripBlanks(cell.text));
    const std::string where = absl::StrCat(source, ":", cell.line, ":", cell.column, ": ");
    if (!IsValidUtf8(cell.text)) {
      return absl::InvalidArgumentError(absl::StrCat(where, "column name ",
                                                     QuoteForMessage(cell.text),
                                                     " is not UTF-8 text (is this a CSV file?)"));
    }
    if (cell.text.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "column ", j + 1, " has an empty name; every column needs one"));
    }

    auto [it, inserted] = index_of.emplace(cell.text, j);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(where, "duplicate column name ",
                                                     QuoteForMessage(cell.text), " (also column ",
                                                     it->second + 1, ")"));
    }
  }
  if (columns < (options.no_target ? 1 : 2)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":1: the header has ", columns,
                     " column; a data set needs at least one feature column and a target column"));
  }

  size_t target = options.no_target ? columns : columns - 1;
  if (!options.no_target && !options.target_column.empty()) {
    auto it = index_of.find(options.target_column);
    if (it == index_of.end() && options.target_optional) {
      target = columns;  // no target: every column is a feature
    } else if (it == index_of.end()) {
      std::string hint;
      for (const Cell& cell : header) {
        if (absl::EqualsIgnoreCase(cell.text, options.target_column)) {
          hint = absl::StrCat(" (did you mean ", QuoteForMessage(cell.text), "?)");
        }
      }
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":1: no target column named ", QuoteForMessage(options.target_column), hint,
          "; the columns are ", ListColumns(header, columns)));
    } else {
      target = it->second;
    }
  }
  const bool has_target = target < columns;

  Dataset data;
  data.source = std::string(source);
  data.features = static_cast<int64_t>(columns - (has_target ? 1 : 0));
  if (has_target) data.target_name = header[target].text;
  for (size_t j = 0; j < columns; ++j) {
    if (j != target) data.feature_names.push_back(header[j].text);
  }
  // One record per line is the rule, so the line count bounds the rows well;
  // so do the bytes left, since a record of n fields takes at least n of them
  // (n - 1 commas and a line end): blank lines under a wide header must not
  // reserve gigabytes.
  const int64_t lines_left = std::min<int64_t>(
      std::count(text.begin() + tokenizer.pos(), text.end(), '\n') + 1,
      static_cast<int64_t>(text.size() - tokenizer.pos()) / static_cast<int64_t>(columns) + 1);
  data.y.reserve(lines_left);
  data.x.reserve(lines_left * data.features);

  std::vector<Cell> cells;
  size_t count = 0;
  int64_t first_blank_line = 0;
  // The target cells as text until every row is read: a column with one
  // cell that is not a number holds labels.
  std::vector<std::string> target_text;
  bool text_targets = false;
  while (true) {
    more = tokenizer.Next(cells, count);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (IsBlankRecord(cells, count)) {
      if (first_blank_line == 0) first_blank_line = cells[0].line;
      continue;
    }
    if (first_blank_line != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", first_blank_line,
                       ": blank line inside the data (blank lines are allowed only at the end)"));
    }
    if (count != columns) {
      // Point at the first extra field, or at the end of a short record.
      const Cell& at = count > columns ? cells[columns] : cells[count - 1];
      const int64_t column =
          count > columns ? at.column : at.column + static_cast<int64_t>(at.text.size());
      return absl::InvalidArgumentError(absl::StrCat(source, ":", cells[0].line, ":", column,
                                                     ": expected ", columns,
                                                     " fields (as in the header), found ", count));
    }
    for (size_t j = 0; j < columns; ++j) {
      double value = 0;
      if (j == target) {
        const absl::string_view label = StripBlanks(cells[j].text);
        if (label.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(source, ":", cells[j].line, ":", cells[j].column,
                           ": empty cell, expected a label or a number (column ",
                           QuoteForMessage(header[j].text), ")"));
        }
        // Text is a label; a number that is not finite is an error, as in
        // any other column.
        if (std::optional<std::string> why = ParseNumber(label, value)) {
          if (*why != "is not a number") {
            return absl::InvalidArgumentError(absl::StrCat(
                source, ":", cells[j].line, ":", cells[j].column, ": ", QuoteForMessage(label), " ",
                *why, " (column ", QuoteForMessage(header[j].text), ")"));
          }
          text_targets = true;
        }
        target_text.emplace_back(label);
        continue;
      }
      if (std::optional<std::string> why = ParseNumber(cells[j].text, value)) {
        const bool empty = StripBlanks(cells[j].text).empty();
        return absl::InvalidArgumentError(
            absl::StrCat(source, ":", cells[j].line, ":", cells[j].column, ": ",
                         empty ? "" : QuoteForMessage(cells[j].text), empty ? "" : " ", *why,
                         " (column ", QuoteForMessage(header[j].text), ")"));
      }
      if (!options.allow_beyond_float32 && std::abs(value) > std::numeric_limits<float>::max()) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ":", cells[j].line, ":", cells[j].column, ": ", QuoteForMessage(cells[j].text),
            " is beyond float32's range (+-3.4e38), in which the network computes (column ",
            QuoteForMessage(header[j].text), ")"));
      }
      data.x.push_back(value);
    }
  }
  if (!text_targets) {
    for (const std::string& t : target_text) {
      double value = 0;
      ParseNumber(t, value);
      data.y.push_back(value);
    }
  } else {
    for (const std::string& t : target_text) {
      if (!IsValidUtf8(t)) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": the target column ", QuoteForMessage(data.target_name),
                         " holds a label that is not UTF-8 text: ", QuoteForMessage(t)));
      }
    }
    std::vector<std::string> labels = target_text;
    std::sort(labels.begin(), labels.end());
    labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
    for (const std::string& t : target_text) {
      data.y.push_back(double(std::lower_bound(labels.begin(), labels.end(), t) - labels.begin()));
    }
    data.target_labels = std::move(labels);
  }
  data.rows = static_cast<int64_t>(data.x.size()) / std::max<int64_t>(data.features, 1);
  if (data.rows == 0) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no data rows after the header"));
  }
  return data;
}

void Shuffle(std::span<int64_t> values, Generator& gen) {
  for (size_t i = values.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(gen.NextBelow(i));
    std::swap(values[i - 1], values[j]);
  }
}

namespace {

int64_t TestCount(int64_t n, double test_fraction, const char* fn,
                  const std::source_location& location) {
  ACTGRAD_REQUIRE(test_fraction >= 0.0 && test_fraction <= 1.0, location, fn, ": test_fraction ",
                  test_fraction, " is outside [0, 1]");
  return std::llround(static_cast<double>(n) * test_fraction);
}

}  // namespace

Split StratifiedSplit(std::span<const double> labels, double test_fraction, uint64_t seed,
                      std::source_location location) {
  TestCount(0, test_fraction, "StratifiedSplit", location);
  // An ordered map fixes the order in which classes draw from the generator.
  std::map<double, std::vector<int64_t>> classes;
  for (size_t i = 0; i < labels.size(); ++i) {
    ACTGRAD_REQUIRE(std::isfinite(labels[i]), location, "StratifiedSplit: label ", i, " is ",
                    labels[i], ", not a finite class label");
    classes[labels[i]].push_back(static_cast<int64_t>(i));
  }
  // As scikit-learn does: the test set holds ceil(n * test_fraction) rows
  // (less a hair, so that 20 * 0.3 is 6 and not 7), each class gets the
  // floor of its share, and the rows left over go to the classes with the
  // largest remainders (ties: the larger class, then the smaller label).
  const int64_t total = static_cast<int64_t>(labels.size());
  const int64_t total_test =
      std::min<int64_t>(total, static_cast<int64_t>(std::ceil(total * test_fraction - 1e-9)));
  struct Share {
    double label;
    int64_t rows;
    int64_t test;
    double remainder;
  };
  std::vector<Share> shares;
  int64_t allocated = 0;
  for (const auto& [label, rows] : classes) {
    const double exact = double(total_test) * double(rows.size()) / double(total);
    const int64_t test = static_cast<int64_t>(std::floor(exact));
    shares.push_back({label, static_cast<int64_t>(rows.size()), test, exact - double(test)});
    allocated += test;
  }
  std::vector<Share*> by_remainder;
  for (Share& share : shares) by_remainder.push_back(&share);
  std::stable_sort(by_remainder.begin(), by_remainder.end(), [](const Share* a, const Share* b) {
    if (a->remainder != b->remainder) return a->remainder > b->remainder;
    return a->rows > b->rows;
  });
  for (size_t k = 0; allocated < total_test && k < by_remainder.size(); ++k) {
    ++by_remainder[k]->test;
    ++allocated;
  }
  Generator gen(seed);
  Split split;
  size_t index = 0;
  for (auto& [label, rows] : classes) {
    Shuffle(rows, gen);
    const int64_t n_test = shares[index++].test;
    split.test.insert(split.test.end(), rows.begin(), rows.begin() + n_test);
    split.train.insert(split.train.end(), rows.begin() + n_test, rows.end());
  }
  // Without this the lists would run class by class.
  Shuffle(split.train, gen);
  Shuffle(split.test, gen);
  return split;
}

Split RandomSplit(int64_t rows, double test_fraction, uint64_t seed,
                  std::source_location location) {
  ACTGRAD_REQUIRE(rows >= 0, location, "RandomSplit: rows is ", rows);
  const int64_t n_test = TestCount(rows, test_fraction, "RandomSplit", location);
  std::vector<int64_t> order(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) order[i] = i;
  Generator gen(seed);
  Shuffle(order, gen);
  Split split;
  split.test.assign(order.begin(), order.begin() + n_test);
  split.train.assign(order.begin() + n_test, order.end());
  return split;
}

std::vector<std::vector<int64_t>> ShuffledBatches(std::span<const int64_t> rows, int64_t batch,
                                                  Generator& gen, std::source_location location) {
  ACTGRAD_REQUIRE(batch >= 1, location, "ShuffledBatches: batch size ", batch,
                  " must be at least 1");
  std::vector<int64_t> order(rows.begin(), rows.end());
  Shuffle(order, gen);
  std::vector<std::vector<int64_t>> batches;
  batches.reserve((order.size() + batch - 1) / batch);
  for (size_t begin = 0; begin < order.size(); begin += batch) {
    const size_t end = std::min(order.size(), begin + static_cast<size_t>(batch));
    batches.emplace_back(order.begin() + begin, order.begin() + end);
  }
  return batches;
}

}  // namespace actgrad::io
