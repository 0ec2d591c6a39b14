#include "io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <new>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/shape.h"
#include "graph/tensor_impl.h"
#include "io/file.h"
#include "io/text.h"

// The data section is copied byte for byte into tensor buffers.
static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader does not byte-swap");

namespace actgrad::io {

namespace {

// The reference implementation's limit; it keeps a hostile header length
// from turning into a huge allocation even when the file is that large.
constexpr int64_t kMaxHeaderBytes = 100'000'000;

#define ACTGRAD_IO_RETURN_IF_ERROR(expr) \
  do {                                   \
    absl::Status status_ = (expr);       \
    if (!status_.ok()) return status_;   \
  } while (false)

struct DTypeInfo {
  const char* name;
  DType dtype;
};
constexpr DTypeInfo kDTypes[] = {
    {"F32", DType::kFloat32}, {"F64", DType::kFloat64}, {"I64", DType::kInt64}};

std::optional<DType> DTypeFromName(absl::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (name == info.name) return info.dtype;
  }
  return std::nullopt;
}

const char* DTypeToName(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.name;
  }
  return "?";
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// A strict reader for the JSON that a safetensors header may hold: objects,
// strings, arrays of integers and null. Nothing is built generically, so no
// input can make it recurse or allocate beyond the header's own size.
class JsonReader {
 public:
  JsonReader(absl::string_view text, absl::string_view source) : text_(text), source_(source) {}

  size_t pos() const { return pos_; }
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }

  absl::Status ErrorAt(size_t pos, absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": header byte ", pos, ": ", message));
  }

  // What is at the current position, for "expected X, found Y" messages.
  std::string Found() const {
    if (AtEnd()) return "the end of the header";
    return QuoteForMessage(text_.substr(pos_, 1));
  }

  void SkipWhitespace() {
    while (!AtEnd() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                        text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool TryConsume(char c) {
    SkipWhitespace();
    if (Peek() != c || AtEnd()) return false;
    ++pos_;
    return true;
  }

  absl::Status Expect(char c, absl::string_view context) {
    if (TryConsume(c)) return absl::OkStatus();
    return ErrorAt(pos_, absl::StrCat("expected '", absl::string_view(&c, 1), "' ", context,
                                      ", found ", Found()));
  }

  bool TryConsumeNull() {
    SkipWhitespace();
    if (text_.substr(pos_, 4) != "null") return false;
    pos_ += 4;
    return true;
  }

  absl::Status ReadString(std::string& out, absl::string_view what) {
    SkipWhitespace();
    if (Peek() != '"' || AtEnd()) {
      return ErrorAt(pos_, absl::StrCat("expected ", what, " (a string), found ", Found()));
    }
    const size_t start = pos_++;
    out.clear();
    while (true) {
      if (AtEnd()) return ErrorAt(start, "string is never closed");
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) {
        return ErrorAt(pos_, "control character in a string (JSON requires it escaped)");
      }
      if (c == '\\') {
        ACTGRAD_IO_RETURN_IF_ERROR(ReadEscape(out));
        continue;
      }
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      // A multi-byte character: validate it alone, so the error points at it.
      const size_t length = (c & 0xE0) == 0xC0   ? 2
                            : (c & 0xF0) == 0xE0 ? 3
                            : (c & 0xF8) == 0xF0 ? 4
                                                 : 1;
      const absl::string_view sequence = text_.substr(pos_, length);
      if (length == 1 || sequence.size() != length || !IsValidUtf8(sequence)) {
        return ErrorAt(pos_, "invalid UTF-8 in a string");
      }
      out.append(sequence.data(), sequence.size());
      pos_ += length;
    }
  }

  // An integer in JSON syntax: no fraction, no exponent, no leading zeros.
  absl::Status ReadInteger(int64_t& out, absl::string_view what) {
    SkipWhitespace();
    const size_t start = pos_;
    const bool negative = Peek() == '-' && !AtEnd();
    if (negative) ++pos_;
    if (AtEnd() || !IsDigit(text_[pos_])) {
      pos_ = start;
      return ErrorAt(start, absl::StrCat("expected ", what, " (an integer), found ", Found()));
    }
    if (text_[pos_] == '0' && pos_ + 1 < text_.size() && IsDigit(text_[pos_ + 1])) {
      return ErrorAt(start, absl::StrCat(what, " has a leading zero, which JSON forbids"));
    }
    uint64_t value = 0;
    while (!AtEnd() && IsDigit(text_[pos_])) {
      const uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
      if (value > (static_cast<uint64_t>(INT64_MAX) - digit) / 10) {
        return ErrorAt(start, absl::StrCat(what, " does not fit in 64 bits"));
      }
      value = value * 10 + digit;
      ++pos_;
    }
    if (!AtEnd() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
      return ErrorAt(start, absl::StrCat(what, " must be an integer"));
    }
    out = negative ? -static_cast<int64_t>(value) : static_cast<int64_t>(value);
    return absl::OkStatus();
  }

  // An array of at most `max_length` integers.
  absl::Status ReadIntegerArray(std::vector<int64_t>& out, size_t max_length,
                                absl::string_view what) {
    out.clear();
    SkipWhitespace();
    if (Peek() != '[' || AtEnd()) {
      return ErrorAt(pos_, absl::StrCat("expected ", what, " (an array), found ", Found()));
    }
    ++pos_;
    if (TryConsume(']')) return absl::OkStatus();
    while (true) {
      SkipWhitespace();
      if (out.size() == max_length) {
        return ErrorAt(pos_, absl::StrCat(what, " has more than ", max_length, " elements"));
      }
      int64_t value = 0;
      ACTGRAD_IO_RETURN_IF_ERROR(ReadInteger(value, absl::StrCat("an element of ", what)));
      out.push_back(value);
      if (TryConsume(']')) return absl::OkStatus();
      ACTGRAD_IO_RETURN_IF_ERROR(Expect(',', absl::StrCat("or ']' in ", what)));
    }
  }

 private:
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  absl::Status ReadHex4(uint32_t& out) {
    if (pos_ + 4 > text_.size()) return ErrorAt(pos_, "\\u escape needs four hex digits");
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = text_[pos_ + k];
      int digit;
      if (h >= '0' && h <= '9') {
        digit = h - '0';
      } else if (h >= 'a' && h <= 'f') {
        digit = h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        digit = h - 'A' + 10;
      } else {
        return ErrorAt(pos_ + k, "\\u escape needs four hex digits");
      }
      out = out * 16 + static_cast<uint32_t>(digit);
    }
    pos_ += 4;
    return absl::OkStatus();
  }

  absl::Status ReadEscape(std::string& out) {
    const size_t start = pos_;
    pos_ += 1;  // the backslash
    if (AtEnd()) return ErrorAt(start, "string ends inside an escape");
    const char c = text_[pos_++];
    switch (c) {
      case '"':
        out.push_back('"');
        return absl::OkStatus();
      case '\\':
        out.push_back('\\');
        return absl::OkStatus();
      case '/':
        out.push_back('/');
        return absl::OkStatus();
      case 'b':
        out.push_back('\b');
        return absl::OkStatus();
      case 'f':
        out.push_back('\f');
        return absl::OkStatus();
      case 'n':
        out.push_back('\n');
        return absl::OkStatus();
      case 'r':
        out.push_back('\r');
        return absl::OkStatus();
      case 't':
        out.push_back('\t');
        return absl::OkStatus();
      case 'u':
        break;
      default:
        return ErrorAt(
            start, absl::StrCat("unknown escape \\", QuoteForMessage(absl::string_view(&c, 1))));
    }
    uint32_t code_point = 0;
    ACTGRAD_IO_RETURN_IF_ERROR(ReadHex4(code_point));
    if (code_point >= 0xDC00 && code_point <= 0xDFFF) {
      return ErrorAt(start, "\\u escape is a lone low surrogate");
    }
    if (code_point >= 0xD800 && code_point <= 0xDBFF) {
      if (text_.substr(pos_, 2) != "\\u") {
        return ErrorAt(start, "\\u escape is a high surrogate without its low half");
      }
      pos_ += 2;
      uint32_t low = 0;
      ACTGRAD_IO_RETURN_IF_ERROR(ReadHex4(low));
      if (low < 0xDC00 || low > 0xDFFF) {
        return ErrorAt(start, "\\u escape is a high surrogate without its low half");
      }
      code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
    }
    AppendUtf8(code_point, out);
    return absl::OkStatus();
  }

  static void AppendUtf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  absl::string_view text_;
  absl::string_view source_;
  size_t pos_ = 0;
};

absl::Status ParseMetadata(JsonReader& reader, std::map<std::string, std::string>& metadata) {
  // The reference writer emits no __metadata__ at all when there is none, but
  // its reader accepts null, so files with null exist.
  if (reader.TryConsumeNull()) return absl::OkStatus();
  ACTGRAD_IO_RETURN_IF_ERROR(reader.Expect('{', "to open __metadata__"));
  if (reader.TryConsume('}')) return absl::OkStatus();
  std::string key;
  std::string value;
  while (true) {
    reader.SkipWhitespace();
    const size_t key_pos = reader.pos();
    ACTGRAD_IO_RETURN_IF_ERROR(reader.ReadString(key, "a __metadata__ key"));
    ACTGRAD_IO_RETURN_IF_ERROR(reader.Expect(':', "after a __metadata__ key"));
    reader.SkipWhitespace();
    if (reader.Peek() != '"') {
      return reader.ErrorAt(reader.pos(),
                            absl::StrCat("__metadata__ value of ", QuoteForMessage(key),
                                         " is not a string (found ", reader.Found(), ")"));
    }
    ACTGRAD_IO_RETURN_IF_ERROR(reader.ReadString(value, "a __metadata__ value"));
    if (!metadata.emplace(key, value).second) {
      return reader.ErrorAt(key_pos,
                            absl::StrCat("duplicate __metadata__ key ", QuoteForMessage(key)));
    }
    if (reader.TryConsume('}')) return absl::OkStatus();
    ACTGRAD_IO_RETURN_IF_ERROR(reader.Expect(',', "or '}' in __metadata__"));
  }
}

struct ParsedEntry {
  SafetensorsEntry entry;
  size_t pos = 0;  // header byte of the entry's name, for later messages
};

absl::Status ParseTensorInfo(JsonReader& reader, ParsedEntry& parsed) {
  SafetensorsEntry& entry = parsed.entry;
  const std::string quoted_name = QuoteForMessage(entry.name);
  reader.SkipWhitespace();
  const size_t object_pos = reader.pos();
  ACTGRAD_IO_RETURN_IF_ERROR(
      reader.Expect('{', absl::StrCat("to open the entry of tensor ", quoted_name)));
  bool has_dtype = false, has_shape = false, has_offsets = false;
  std::vector<int64_t> offsets;
  std::string key;
  if (!reader.TryConsume('}')) {
    while (true) {
      reader.SkipWhitespace();
      const size_t key_pos = reader.pos();
      ACTGRAD_IO_RETURN_IF_ERROR(reader.ReadString(key, "a key"));
      ACTGRAD_IO_RETURN_IF_ERROR(reader.Expect(':', "after a key"));
      reader.SkipWhitespace();
      const size_t value_pos = reader.pos();
      bool* seen = key == "dtype"          ? &has_dtype
                   : key == "shape"        ? &has_shape
                   : key == "data_offsets" ? &has_offsets
                                           : nullptr;
      if (seen == nullptr) {
        return reader.ErrorAt(
            key_pos, absl::StrCat("unknown key ", QuoteForMessage(key), " in the entry of tensor ",
                                  quoted_name, " (expected dtype, shape and data_offsets)"));
      }
      if (*seen) {
        return reader.ErrorAt(key_pos, absl::StrCat("duplicate key ", QuoteForMessage(key),
                                                    " in the entry of tensor ", quoted_name));
      }
      *seen = true;
      if (seen == &has_dtype) {
        ACTGRAD_IO_RETURN_IF_ERROR(reader.ReadString(entry.dtype, "the dtype"));
        if (!DTypeFromName(entry.dtype)) {
          return reader.ErrorAt(
              value_pos,
              absl::StrCat("tensor ", quoted_name, " has unsupported dtype ",
                           QuoteForMessage(entry.dtype), " (actgrad reads F32, F64 and I64)"));
        }
      } else if (seen == &has_shape) {
        ACTGRAD_IO_RETURN_IF_ERROR(reader.ReadIntegerArray(
            entry.shape, Shape::kMaxRank, absl::StrCat("the shape of ", quoted_name)));
        for (int64_t extent : entry.shape) {
          if (extent < 0) {
            return reader.ErrorAt(
                value_pos, absl::StrCat("tensor ", quoted_name, " has a negative extent in shape ",
                                        ShapeText(entry.shape)));
          }
        }
      } else {
        ACTGRAD_IO_RETURN_IF_ERROR(
            reader.ReadIntegerArray(offsets, 2, absl::StrCat("the data_offsets of ", quoted_name)));
        if (offsets.size() != 2 || offsets[0] < 0 || offsets[1] < offsets[0]) {
          return reader.ErrorAt(value_pos,
                                absl::StrCat("tensor ", quoted_name, " has data_offsets [",
                                             absl::StrJoin(offsets, ","),
                                             "]; expected [begin, end] with 0 <= begin <= end"));
        }
        entry.begin = offsets[0];
        entry.end = offsets[1];
      }
      if (reader.TryConsume('}')) break;
      ACTGRAD_IO_RETURN_IF_ERROR(
          reader.Expect(',', absl::StrCat("or '}' in the entry of tensor ", quoted_name)));
    }
  }
  for (auto [present, key_name] : {std::pair{has_dtype, "dtype"}, std::pair{has_shape, "shape"},
                                   std::pair{has_offsets, "data_offsets"}}) {
    if (!present) {
      return reader.ErrorAt(object_pos, absl::StrCat("the entry of tensor ", quoted_name,
                                                     " has no \"", key_name, "\""));
    }
  }
  return absl::OkStatus();
}

// Checks sizes and the layout of the data section, in that order, so that a
// huge declared shape is reported as such rather than as a gap.
absl::Status CheckLayout(std::vector<ParsedEntry>& parsed, int64_t data_bytes,
                         absl::string_view source) {
  for (const ParsedEntry& p : parsed) {
    const SafetensorsEntry& e = p.entry;
    const std::string where =
        absl::StrCat(source, ": header byte ", p.pos, ": tensor ", QuoteForMessage(e.name));
    int64_t count = 1;
    for (int64_t extent : e.shape) {
      if (__builtin_mul_overflow(count, extent, &count)) {
        return absl::InvalidArgumentError(absl::StrCat(where, " has shape ", ShapeText(e.shape),
                                                       " whose element count overflows 64 bits"));
      }
    }
    int64_t bytes = 0;
    if (__builtin_mul_overflow(count, static_cast<int64_t>(DTypeSize(*DTypeFromName(e.dtype))),
                               &bytes)) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has shape ", ShapeText(e.shape),
                                                     " whose byte size overflows 64 bits"));
    }
    if (e.end > data_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has data_offsets [", e.begin, ",",
                                                     e.end, "] outside the data, which is ",
                                                     data_bytes, " bytes"));
    }
    if (bytes != e.end - e.begin) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " of dtype ", e.dtype, " and shape ", ShapeText(e.shape), " needs ", bytes,
          " bytes, but its data_offsets [", e.begin, ",", e.end, "] hold ", e.end - e.begin));
    }
  }
  std::vector<const ParsedEntry*> by_offset;
  by_offset.reserve(parsed.size());
  for (const ParsedEntry& p : parsed) by_offset.push_back(&p);
  std::sort(by_offset.begin(), by_offset.end(), [](const ParsedEntry* a, const ParsedEntry* b) {
    return std::pair(a->entry.begin, a->entry.end) < std::pair(b->entry.begin, b->entry.end);
  });
  int64_t covered = 0;
  const ParsedEntry* previous = nullptr;
  for (const ParsedEntry* p : by_offset) {
    const SafetensorsEntry& e = p->entry;
    if (e.begin < covered) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": header byte ", p->pos, ": tensor ", QuoteForMessage(e.name), " (bytes ",
          e.begin, "..", e.end, ") overlaps tensor ", QuoteForMessage(previous->entry.name),
          " (bytes ", previous->entry.begin, "..", previous->entry.end, ")"));
    }
    if (e.begin > covered) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": header byte ", p->pos, ": gap in the data: bytes ", covered, "..", e.begin,
          " before tensor ", QuoteForMessage(e.name), " belong to no tensor"));
    }
    covered = e.end;
    previous = p;
  }
  if (covered != data_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": the data section has ", data_bytes, " bytes but the tensors cover only ",
        covered, "; the last ", data_bytes - covered, " bytes belong to no tensor"));
  }
  return absl::OkStatus();
}

void AppendJsonString(absl::string_view s, std::string& out) {
  out.push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      absl::StrAppend(&out, "\\u", absl::Hex(u, absl::kZeroPad4));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view json, int64_t data_bytes,
                                                         absl::string_view source) {
  JsonReader reader(json, source);
  if (json.empty() || json[0] != '{') {
    return reader.ErrorAt(
        0,
        absl::StrCat("the header must be a JSON object starting with '{', found ", reader.Found()));
  }
  SafetensorsHeader header;
  std::vector<ParsedEntry> parsed;
  absl::flat_hash_set<std::string> names;
  bool has_metadata = false;
  reader.Expect('{', "").IgnoreError();
  if (!reader.TryConsume('}')) {
    std::string key;
    while (true) {
      reader.SkipWhitespace();
      const size_t key_pos = reader.pos();
      ACTGRAD_IO_RETURN_IF_ERROR(reader.ReadString(key, "a tensor name"));
      if (key == "__metadata__" ? has_metadata : names.contains(key)) {
        return reader.ErrorAt(key_pos, absl::StrCat("duplicate name ", QuoteForMessage(key)));
      }
      ACTGRAD_IO_RETURN_IF_ERROR(reader.Expect(':', "after a name"));
      if (key == "__metadata__") {
        has_metadata = true;
        ACTGRAD_IO_RETURN_IF_ERROR(ParseMetadata(reader, header.metadata));
      } else {
        names.insert(key);
        ParsedEntry& p = parsed.emplace_back();
        p.pos = key_pos;
        p.entry.name = key;
        ACTGRAD_IO_RETURN_IF_ERROR(ParseTensorInfo(reader, p));
      }
      if (reader.TryConsume('}')) break;
      ACTGRAD_IO_RETURN_IF_ERROR(reader.Expect(',', "or '}' after an entry"));
    }
  }
  reader.SkipWhitespace();
  if (!reader.AtEnd()) {
    return reader.ErrorAt(
        reader.pos(),
        reader.Peek() == '\0'
            ? "NUL byte after the header object (padding must be spaces, 0x20)"
            : absl::StrCat("unexpected ", reader.Found(), " after the header object"));
  }
  ACTGRAD_IO_RETURN_IF_ERROR(CheckLayout(parsed, data_bytes, source));
  for (ParsedEntry& p : parsed) header.entries.push_back(std::move(p.entry));
  std::sort(header.entries.begin(), header.entries.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.name < b.name; });
  return header;
}

absl::StatusOr<SafetensorsFile> LoadSafetensors(const std::string& path) {
  absl::StatusOr<RandomAccessFile> file = RandomAccessFile::Open(path);
  if (!file.ok()) return file.status();
  const int64_t size = file->size();
  if (size < 8) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": truncated: the file has ", size,
                     " bytes, fewer than the 8-byte header length that starts a safetensors file"));
  }
  unsigned char length_bytes[8];
  ACTGRAD_IO_RETURN_IF_ERROR(file->ReadAt(0, length_bytes, 8));
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | length_bytes[i];
  if (header_length > static_cast<uint64_t>(size - 8)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the header length is ", header_length, " bytes but only ", size - 8,
                     " bytes follow it: the file is truncated or not safetensors"));
  }
  if (header_length > static_cast<uint64_t>(kMaxHeaderBytes)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the header length ", header_length,
                                                   " exceeds the limit of ", kMaxHeaderBytes,
                                                   " bytes"));
  }
  std::string json(header_length, '\0');
  ACTGRAD_IO_RETURN_IF_ERROR(file->ReadAt(8, json.data(), static_cast<int64_t>(header_length)));
  const int64_t data_start = 8 + static_cast<int64_t>(header_length);
  absl::StatusOr<SafetensorsHeader> header = ParseSafetensorsHeader(json, size - data_start, path);
  if (!header.ok()) return header.status();

  SafetensorsFile out;
  out.metadata = std::move(header->metadata);
  out.tensors.reserve(header->entries.size());
  try {
    for (const SafetensorsEntry& e : header->entries) {
      // Every size was checked against the file size above, so this
      // allocation is bounded by what is really on disk.
      Tensor t(internal::NewUninitialized(Shape(std::span<const int64_t>(e.shape)),
                                          *DTypeFromName(e.dtype)));
      ACTGRAD_IO_RETURN_IF_ERROR(file->ReadAt(data_start + e.begin, t.raw_data(), e.end - e.begin));
      out.tensors.emplace_back(e.name, std::move(t));
    }
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": not enough memory for the tensors (", size, " bytes of file)"));
  }
  return out;
}

absl::Status SaveSafetensors(const std::string& path,
                             const std::vector<std::pair<std::string, Tensor>>& tensors,
                             const std::map<std::string, std::string>& metadata) {
  const std::string where = absl::StrCat(path, ": cannot save: ");
  absl::flat_hash_set<absl::string_view> names;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == "__metadata__" || !IsValidUtf8(name)) {
      return absl::InvalidArgumentError(absl::StrCat(where, "tensor name ", QuoteForMessage(name),
                                                     name.empty()             ? " is empty"
                                                     : name == "__metadata__" ? " is reserved"
                                                                              : " is not UTF-8"));
    }
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "two tensors are named ", QuoteForMessage(name)));
    }
    if (!tensor.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "tensor ", QuoteForMessage(name), " is undefined"));
    }
  }
  for (const auto& [key, value] : metadata) {
    if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "metadata entry ", QuoteForMessage(key), " is not UTF-8"));
    }
  }

  std::vector<const std::pair<std::string, Tensor>*> sorted;
  sorted.reserve(tensors.size());
  for (const auto& entry : tensors) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });

  std::string json = "{";
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) json.push_back(',');
      first = false;
      AppendJsonString(key, json);
      json.push_back(':');
      AppendJsonString(value, json);
    }
    json += "}";
  }
  std::vector<absl::string_view> pieces;
  pieces.reserve(sorted.size() + 2);
  pieces.emplace_back();  // the length, filled in below
  pieces.emplace_back();  // the JSON
  int64_t offset = 0;
  for (const auto* entry : sorted) {
    const Tensor& t = entry->second;
    const int64_t bytes = t.numel() * static_cast<int64_t>(DTypeSize(t.dtype()));
    if (json.size() > 1) json.push_back(',');
    AppendJsonString(entry->first, json);
    absl::StrAppend(&json, ":{\"dtype\":\"", DTypeToName(t.dtype()), "\",\"shape\":[",
                    absl::StrJoin(t.shape().dims(), ","), "],\"data_offsets\":[", offset, ",",
                    offset + bytes, "]}");
    pieces.emplace_back(static_cast<const char*>(t.raw_data()), static_cast<size_t>(bytes));
    offset += bytes;
  }
  json.push_back('}');
  // Readers that map the file may view the data in place only if it is
  // aligned; the spec pads with spaces, which JSON parsers skip.
  json.append((8 - json.size() % 8) % 8, ' ');

  char length_bytes[8];
  uint64_t length = json.size();
  for (char& b : length_bytes) {
    b = static_cast<char>(length & 0xFF);
    length >>= 8;
  }
  pieces[0] = absl::string_view(length_bytes, 8);
  pieces[1] = json;
  return WriteFileAtomically(path, pieces);
}

#undef ACTGRAD_IO_RETURN_IF_ERROR

}  // namespace actgrad::io
