#include "io/safetensors.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <new>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/shape.h"
#include "graph/tensor_impl.h"
#include "io/file.h"
#include "io/json.h"
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

struct ParsedEntry {
  SafetensorsEntry entry;
  size_t pos = 0;  // header byte of the entry's name, for later messages
};

// The header's schema as RapidJSON's reader walks it: an object of tensor
// entries {"dtype": "F32", "shape": [...], "data_offsets": [b, e]} and an
// optional "__metadata__" object of strings. Nothing is built generically,
// so no input can nest or allocate beyond what the schema allows; the first
// departure from it stops the reader with a message and its byte offset.
class HeaderHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, HeaderHandler> {
 public:
  HeaderHandler(absl::string_view text, const rapidjson::MemoryStream& stream)
      : text_(text), stream_(stream) {}

  bool Default() { return Unexpected("a value"); }
  bool Null() {
    if (state_ == State::kMetadataValue) {  // "__metadata__": null, as the reference reads
      state_ = State::kRootKey;
      return true;
    }
    return Unexpected("null");
  }
  bool Bool(bool) { return Unexpected("a boolean"); }
  bool Int(int i) { return Integer(i, true); }
  bool Uint(unsigned u) { return Integer(static_cast<int64_t>(u), true); }
  bool Int64(int64_t i) { return Integer(i, true); }
  bool Uint64(uint64_t u) {
    return u > static_cast<uint64_t>(INT64_MAX) ? Integer(0, false) : Integer(int64_t(u), true);
  }
  // Integers the reader cannot hold arrive here too: only those beyond 64
  // bits are whole numbers this large.
  bool Double(double d) {
    if (state_ == State::kShape || state_ == State::kOffsets) {
      return Fail(
          std::abs(d) >= 0x1p63
              ? absl::StrCat("the ", ArrayName(), " ", d, " does not fit in 64 bits")
              : absl::StrCat("the ", ArrayName(), " ", d,
                             " must be an integer (written without a fraction or exponent)"));
    }
    return Unexpected("a number");
  }
  bool String(const char* s, rapidjson::SizeType length, bool) {
    const absl::string_view value(s, length);
    if (!IsValidUtf8(value)) return NotUtf8();
    if (state_ == State::kMetadataEntryValue) {
      if (!metadata_->emplace(metadata_key_, std::string(value)).second) {
        return FailAt(key_pos_,
                      absl::StrCat("duplicate __metadata__ key ", QuoteForMessage(metadata_key_)));
      }
      state_ = State::kMetadataKey;
      return true;
    }
    if (state_ == State::kDtype) {
      entry().dtype = std::string(value);
      if (!DTypeFromName(value)) {
        return Fail(absl::StrCat("tensor ", QuoteForMessage(entry().name),
                                 " has unsupported dtype ", QuoteForMessage(value),
                                 " (actgrad reads F32, F64 and I64)"));
      }
      state_ = State::kEntryKey;
      return true;
    }
    return Unexpected("a string");
  }
  bool StartObject() {
    switch (state_) {
      case State::kStart:
        state_ = State::kRootKey;
        return true;
      case State::kMetadataValue:
        state_ = State::kMetadataKey;
        return true;
      case State::kEntryValue:
        state_ = State::kEntryKey;
        return true;
      default:
        return Unexpected("an object");
    }
  }
  bool Key(const char* s, rapidjson::SizeType length, bool) {
    const std::string key(s, length);
    key_pos_ = KeyStart();
    if (!IsValidUtf8(key)) return NotUtf8();
    if (state_ == State::kRootKey) {
      if (key == "__metadata__" ? has_metadata_ : names_.contains(key)) {
        return FailAt(key_pos_, absl::StrCat("duplicate name ", QuoteForMessage(key)));
      }
      if (key == "__metadata__") {
        has_metadata_ = true;
        state_ = State::kMetadataValue;
      } else {
        names_.insert(key);
        ParsedEntry& p = parsed_.emplace_back();
        p.pos = key_pos_;
        p.entry.name = key;
        seen_ = {};
        state_ = State::kEntryValue;
      }
      return true;
    }
    if (state_ == State::kMetadataKey) {
      metadata_key_ = key;
      state_ = State::kMetadataEntryValue;
      return true;
    }
    if (state_ == State::kEntryKey) {
      const int slot = key == "dtype" ? 0 : key == "shape" ? 1 : key == "data_offsets" ? 2 : -1;
      const std::string quoted_name = QuoteForMessage(entry().name);
      if (slot < 0) {
        return FailAt(key_pos_,
                      absl::StrCat("unknown key ", QuoteForMessage(key), " in the entry of tensor ",
                                   quoted_name, " (expected dtype, shape and data_offsets)"));
      }
      if (seen_[slot]) {
        return FailAt(key_pos_, absl::StrCat("duplicate key ", QuoteForMessage(key),
                                             " in the entry of tensor ", quoted_name));
      }
      seen_[slot] = true;
      state_ = slot == 0 ? State::kDtype : slot == 1 ? State::kShapeOpen : State::kOffsetsOpen;
      return true;
    }
    return Unexpected("a key");
  }
  bool EndObject(rapidjson::SizeType) {
    if (state_ == State::kRootKey) {
      state_ = State::kDone;
      return true;
    }
    if (state_ == State::kMetadataKey) {
      state_ = State::kRootKey;
      return true;
    }
    if (state_ == State::kEntryKey) {
      for (int slot = 0; slot < 3; ++slot) {
        if (!seen_[slot]) {
          return Fail(absl::StrCat("the entry of tensor ", QuoteForMessage(entry().name),
                                   " has no \"", kEntryKeys[slot], "\""));
        }
      }
      state_ = State::kRootKey;
      return true;
    }
    return Unexpected("the end of an object");
  }
  bool StartArray() {
    if (state_ == State::kShapeOpen) {
      state_ = State::kShape;
      return true;
    }
    if (state_ == State::kOffsetsOpen) {
      offsets_.clear();
      state_ = State::kOffsets;
      return true;
    }
    return Unexpected("an array");
  }
  bool EndArray(rapidjson::SizeType) {
    if (state_ == State::kShape) {
      state_ = State::kEntryKey;
      return true;
    }
    if (state_ == State::kOffsets) {
      if (offsets_.size() != 2 || offsets_[0] < 0 || offsets_[1] < offsets_[0]) {
        return Fail(absl::StrCat("tensor ", QuoteForMessage(entry().name), " has data_offsets [",
                                 absl::StrJoin(offsets_, ","),
                                 "]; expected [begin, end] with 0 <= begin <= end"));
      }
      entry().begin = offsets_[0];
      entry().end = offsets_[1];
      state_ = State::kEntryKey;
      return true;
    }
    return Unexpected("the end of an array");
  }

  bool failed() const { return !error_.empty(); }
  size_t error_pos() const { return error_pos_; }
  const std::string& error() const { return error_; }
  std::vector<ParsedEntry>& parsed() { return parsed_; }
  void set_metadata(std::map<std::string, std::string>* metadata) { metadata_ = metadata; }

 private:
  enum class State {
    kStart,
    kRootKey,
    kMetadataValue,
    kMetadataKey,
    kMetadataEntryValue,
    kEntryValue,
    kEntryKey,
    kDtype,
    kShapeOpen,
    kShape,
    kOffsetsOpen,
    kOffsets,
    kDone,
  };
  static constexpr const char* kEntryKeys[] = {"dtype", "shape", "data_offsets"};

  SafetensorsEntry& entry() { return parsed_.back().entry; }
  const char* ArrayName() const {
    return state_ == State::kShape ? "extent in the shape" : "value in data_offsets";
  }

  bool Integer(int64_t value, bool fits) {
    if (state_ != State::kShape && state_ != State::kOffsets) return Unexpected("a number");
    const std::string quoted_name = QuoteForMessage(entry().name);
    if (!fits)
      return Fail(
          absl::StrCat("the ", ArrayName(), " of ", quoted_name, " does not fit in 64 bits"));
    if (state_ == State::kShape) {
      if (entry().shape.size() == Shape::kMaxRank) {
        return Fail(absl::StrCat("the shape of ", quoted_name, " has more than ", Shape::kMaxRank,
                                 " elements"));
      }
      if (value < 0) {
        return Fail(absl::StrCat("tensor ", quoted_name, " has a negative extent (", value,
                                 ") in its shape"));
      }
      entry().shape.push_back(value);
      return true;
    }
    if (offsets_.size() == 2) {
      return Fail(absl::StrCat("the data_offsets of ", quoted_name, " have more than 2 elements"));
    }
    offsets_.push_back(value);
    return true;
  }

  // What the state wanted, for "expected X, found Y".
  const char* Wanted() const {
    switch (state_) {
      case State::kStart:
        return "the header object";
      case State::kRootKey:
        return "a tensor name";
      case State::kMetadataValue:
        return "an object to open __metadata__";
      case State::kMetadataKey:
        return "a __metadata__ key";
      case State::kMetadataEntryValue:
        return "a string";
      case State::kEntryValue:
        return "an object to open the entry of a tensor";
      case State::kEntryKey:
        return "a key of a tensor's entry";
      case State::kDtype:
        return "the dtype (a string)";
      case State::kShapeOpen:
        return "the shape (an array)";
      case State::kShape:
      case State::kOffsets:
        return "an integer";
      case State::kOffsetsOpen:
        return "the data_offsets (an array)";
      case State::kDone:
        return "the end of the header";
    }
    return "something else";
  }

  // RapidJSON decodes an escaped lone surrogate ("\udc00") into bytes that
  // are not UTF-8.
  bool NotUtf8() { return Fail("a string that is not valid UTF-8 (an escaped lone surrogate)"); }

  bool Unexpected(absl::string_view found) {
    if (state_ == State::kMetadataEntryValue) {
      return Fail(absl::StrCat("__metadata__ value of ", QuoteForMessage(metadata_key_),
                               " is not a string (found ", found, ")"));
    }
    if (state_ == State::kEntryValue) {
      return Fail(absl::StrCat("expected an object to open the entry of tensor ",
                               QuoteForMessage(entry().name), ", found ", found));
    }
    return Fail(absl::StrCat("expected ", Wanted(), ", found ", found));
  }
  // The offset of the value just read: where the reader stands now, less
  // nothing (RapidJSON reports events after consuming their token).
  bool Fail(std::string message) { return FailAt(stream_.Tell(), std::move(message)); }
  bool FailAt(size_t pos, std::string message) {
    error_ = std::move(message);
    error_pos_ = pos;
    return false;
  }
  // The opening quote of the key just read: after the previous event, past
  // whitespace, commas and the brace.
  size_t KeyStart() {
    size_t p = last_event_end_;
    while (p < text_.size() && (text_[p] == ' ' || text_[p] == '\t' || text_[p] == '\n' ||
                                text_[p] == '\r' || text_[p] == ',' || text_[p] == '{')) {
      ++p;
    }
    return p;
  }

 public:
  // Called by the parse loop after each event.
  void EventDone() { last_event_end_ = stream_.Tell(); }

 private:
  absl::string_view text_;
  const rapidjson::MemoryStream& stream_;
  State state_ = State::kStart;
  std::vector<ParsedEntry> parsed_;
  absl::flat_hash_set<std::string> names_;
  bool has_metadata_ = false;
  std::map<std::string, std::string>* metadata_ = nullptr;
  std::string metadata_key_;
  std::array<bool, 3> seen_ = {};
  std::vector<int64_t> offsets_;
  size_t key_pos_ = 0;
  size_t last_event_end_ = 0;
  std::string error_;
  size_t error_pos_ = 0;
};

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

// Forwards every reader event to the schema and notes where it ended, so
// that a key's message can point at its opening quote.
class TrackingHandler {
 public:
  explicit TrackingHandler(HeaderHandler& schema) : schema_(schema) {}
  bool Null() { return Done(schema_.Null()); }
  bool Bool(bool b) { return Done(schema_.Bool(b)); }
  bool Int(int i) { return Done(schema_.Int(i)); }
  bool Uint(unsigned u) { return Done(schema_.Uint(u)); }
  bool Int64(int64_t i) { return Done(schema_.Int64(i)); }
  bool Uint64(uint64_t u) { return Done(schema_.Uint64(u)); }
  bool Double(double d) { return Done(schema_.Double(d)); }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return Done(schema_.Default()); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return Done(schema_.String(s, n, copy));
  }
  bool StartObject() { return Done(schema_.StartObject()); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    return Done(schema_.Key(s, n, copy));
  }
  bool EndObject(rapidjson::SizeType n) { return Done(schema_.EndObject(n)); }
  bool StartArray() { return Done(schema_.StartArray()); }
  bool EndArray(rapidjson::SizeType n) { return Done(schema_.EndArray(n)); }

 private:
  bool Done(bool ok) {
    schema_.EventDone();
    return ok;
  }
  HeaderHandler& schema_;
};

}  // namespace

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view json, int64_t data_bytes,
                                                         absl::string_view source) {
  auto error_at = [&](size_t pos, absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": header byte ", pos, ": ", message));
  };
  if (json.empty() || json[0] != '{') {
    return error_at(0, absl::StrCat("the header must be a JSON object starting with '{', found ",
                                    json.empty() ? "the end of the header"
                                                 : QuoteForMessage(json.substr(0, 1))));
  }
  SafetensorsHeader header;
  rapidjson::MemoryStream stream(json.data(), json.size());
  HeaderHandler schema(json, stream);
  schema.set_metadata(&header.metadata);
  TrackingHandler handler(schema);
  rapidjson::Reader reader;
  // The reader takes a NUL for the end of its input, so it stops after the
  // object and what follows is checked below.
  constexpr unsigned kFlags =
      rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
      rapidjson::kParseFullPrecisionFlag | rapidjson::kParseStopWhenDoneFlag;
  const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, handler);
  if (schema.failed()) return error_at(schema.error_pos(), schema.error());
  if (result.IsError()) return error_at(result.Offset(), DescribeParseError(result, json));
  size_t end = stream.Tell();
  while (end < json.size() &&
         (json[end] == ' ' || json[end] == '\t' || json[end] == '\n' || json[end] == '\r')) {
    ++end;
  }
  if (end < json.size()) {
    return error_at(end, json[end] == '\0'
                             ? std::string("NUL byte after the header object (padding must be "
                                           "spaces, 0x20)")
                             : absl::StrCat("unexpected ", QuoteForMessage(json.substr(end, 1)),
                                            " after the header object"));
  }
  std::vector<ParsedEntry>& parsed = schema.parsed();
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

  JsonWriter header;
  header.BeginObject();
  if (!metadata.empty()) {
    header.Key("__metadata__").BeginObject();
    for (const auto& [key, value] : metadata) header.Key(key).String(value);
    header.EndObject();
  }
  std::vector<absl::string_view> pieces;
  pieces.reserve(sorted.size() + 2);
  pieces.emplace_back();  // the length, filled in below
  pieces.emplace_back();  // the JSON
  int64_t offset = 0;
  for (const auto* entry : sorted) {
    const Tensor& t = entry->second;
    const int64_t bytes = t.numel() * static_cast<int64_t>(DTypeSize(t.dtype()));
    header.Key(entry->first).BeginObject().Key("dtype").String(DTypeToName(t.dtype()));
    header.Key("shape").BeginArray();
    for (int64_t extent : t.shape().dims()) header.Int(extent);
    header.EndArray().Key("data_offsets").BeginArray().Int(offset).Int(offset + bytes).EndArray();
    header.EndObject();
    pieces.emplace_back(static_cast<const char*>(t.raw_data()), static_cast<size_t>(bytes));
    offset += bytes;
  }
  header.EndObject();
  std::string json = header.str();
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
