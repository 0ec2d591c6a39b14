#include "viz/svg_check.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace actgrad::viz {

namespace {

constexpr absl::string_view kElements[] = {"svg",  "title",    "defs",    "clipPath", "rect",
                                           "line", "polyline", "polygon", "circle",   "text"};
constexpr absl::string_view kNumeric[] = {"x",      "y",       "x1",           "y1",       "x2",
                                          "y2",     "cx",      "cy",           "r",        "width",
                                          "height", "opacity", "stroke-width", "font-size"};

bool IsNameStart(char c) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool IsNameChar(char c) {
  return IsNameStart(c) || absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-' ||
         c == '.';
}

bool IsNumber(absl::string_view text) {
  double v = 0;
  return absl::SimpleAtod(text, &v) && std::isfinite(v);
}

class Checker {
 public:
  explicit Checker(absl::string_view doc) : doc_(doc) {}

  absl::Status Run() {
    SkipSpace();
    while (pos_ < doc_.size()) {
      if (doc_.substr(pos_, 4) == "<!--") {
        if (absl::Status s = SkipComment(); !s.ok()) return s;
      } else if (doc_.substr(pos_, 2) == "</") {
        if (absl::Status s = CloseTag(); !s.ok()) return s;
      } else if (doc_[pos_] == '<') {
        if (absl::Status s = OpenTag(); !s.ok()) return s;
      } else {
        if (absl::Status s = Text(); !s.ok()) return s;
      }
    }
    if (!open_.empty()) return Fail(absl::StrCat("<", open_.back(), "> is never closed"));
    if (!saw_root_) return Fail("no <svg> element");
    for (const auto& [id, at] : clip_uses_) {
      if (!ids_.contains(id)) {
        pos_ = at;
        return Fail(absl::StrCat("clip-path names #", id, ", which is not declared"));
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Fail(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("byte ", pos_, ": ", what));
  }

  void SkipSpace() {
    while (pos_ < doc_.size() && absl::ascii_isspace(static_cast<unsigned char>(doc_[pos_]))) {
      ++pos_;
    }
  }

  absl::Status SkipComment() {
    const size_t end = doc_.find("-->", pos_ + 4);
    if (end == absl::string_view::npos) return Fail("unterminated comment");
    pos_ = end + 3;
    return absl::OkStatus();
  }

  // Character data: no '<' can reach here; '&' must start a valid reference.
  absl::Status Text() {
    if (open_.empty()) {
      if (absl::ascii_isspace(static_cast<unsigned char>(doc_[pos_]))) {
        ++pos_;
        return absl::OkStatus();
      }
      return Fail("text outside the root element");
    }
    while (pos_ < doc_.size() && doc_[pos_] != '<') {
      if (doc_[pos_] == '&') {
        if (absl::Status s = Reference(); !s.ok()) return s;
      } else {
        ++pos_;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Reference() {
    const size_t end = doc_.find(';', pos_);
    if (end == absl::string_view::npos || end - pos_ > 10) return Fail("bare '&'");
    const absl::string_view name = doc_.substr(pos_ + 1, end - pos_ - 1);
    bool ok = name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "apos";
    if (!ok && name.size() > 1 && name[0] == '#') {
      ok = true;
      const bool hex = name[1] == 'x';
      for (char c : name.substr(hex ? 2 : 1)) {
        ok &= hex ? absl::ascii_isxdigit(static_cast<unsigned char>(c))
                  : absl::ascii_isdigit(static_cast<unsigned char>(c));
      }
      ok &= name.size() > (hex ? 2u : 1u);
    }
    if (!ok) return Fail(absl::StrCat("unknown entity &", name, ";"));
    pos_ = end + 1;
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Name() {
    if (pos_ >= doc_.size() || !IsNameStart(doc_[pos_])) return Fail("expected a name");
    const size_t start = pos_;
    while (pos_ < doc_.size() && IsNameChar(doc_[pos_])) ++pos_;
    return std::string(doc_.substr(start, pos_ - start));
  }

  absl::Status OpenTag() {
    const size_t tag_start = pos_;
    ++pos_;
    absl::StatusOr<std::string> name = Name();
    if (!name.ok()) return name.status();
    bool known = false;
    for (absl::string_view e : kElements) known |= e == *name;
    if (!known) return Fail(absl::StrCat("unexpected element <", *name, ">"));
    if (open_.empty()) {
      if (saw_root_) return Fail("a second root element");
      if (*name != "svg") return Fail(absl::StrCat("the root is <", *name, ">, not <svg>"));
      saw_root_ = true;
    } else if (*name == "svg") {
      return Fail("a nested <svg>");
    }
    absl::flat_hash_map<std::string, std::string> attrs;
    while (true) {
      const size_t before = pos_;
      SkipSpace();
      if (pos_ >= doc_.size()) return Fail("unterminated tag");
      if (doc_.substr(pos_, 2) == "/>" || doc_[pos_] == '>') break;
      if (pos_ == before) return Fail("attributes must be separated by space");
      absl::StatusOr<std::string> attr = Name();
      if (!attr.ok()) return attr.status();
      if (pos_ >= doc_.size() || doc_[pos_] != '=') return Fail("expected '=' after " + *attr);
      ++pos_;
      if (pos_ >= doc_.size() || doc_[pos_] != '"') return Fail("attribute values need quotes");
      const size_t value_start = ++pos_;
      while (pos_ < doc_.size() && doc_[pos_] != '"') {
        if (doc_[pos_] == '<') return Fail("'<' in an attribute value");
        if (doc_[pos_] == '&') {
          if (absl::Status s = Reference(); !s.ok()) return s;
        } else {
          ++pos_;
        }
      }
      if (pos_ >= doc_.size()) return Fail("unterminated attribute value");
      const std::string value(doc_.substr(value_start, pos_ - value_start));
      ++pos_;
      if (!attrs.emplace(*attr, value).second) return Fail("duplicate attribute " + *attr);
    }
    if (absl::Status s = CheckAttributes(*name, attrs); !s.ok()) {
      pos_ = tag_start;
      return s;
    }
    if (doc_[pos_] == '/') {
      pos_ += 2;
      if (open_.empty()) return Fail("the root element is empty");
    } else {
      ++pos_;
      open_.push_back(*name);
    }
    return absl::OkStatus();
  }

  absl::Status CloseTag() {
    pos_ += 2;
    absl::StatusOr<std::string> name = Name();
    if (!name.ok()) return name.status();
    SkipSpace();
    if (pos_ >= doc_.size() || doc_[pos_] != '>') return Fail("unterminated closing tag");
    ++pos_;
    if (open_.empty() || open_.back() != *name) {
      return Fail(absl::StrCat("</", *name, "> closes ",
                               open_.empty() ? "nothing" : "<" + open_.back() + ">"));
    }
    open_.pop_back();
    return absl::OkStatus();
  }

  absl::Status CheckAttributes(const std::string& element,
                               const absl::flat_hash_map<std::string, std::string>& attrs) {
    for (absl::string_view key : kNumeric) {
      auto it = attrs.find(key);
      if (it != attrs.end() && !IsNumber(it->second)) {
        return Fail(absl::StrCat("<", element, "> attribute ", key, "=\"", it->second,
                                 "\" is not a finite number"));
      }
    }
    if (element == "svg") {
      auto ns = attrs.find("xmlns");
      if (ns == attrs.end() || ns->second != "http://www.w3.org/2000/svg") {
        return Fail("<svg> lacks xmlns=\"http://www.w3.org/2000/svg\"");
      }
      for (const char* key : {"width", "height", "viewBox"}) {
        if (!attrs.contains(key)) return Fail(absl::StrCat("<svg> lacks ", key));
      }
      const std::vector<absl::string_view> box =
          absl::StrSplit(attrs.at("viewBox"), ' ', absl::SkipEmpty());
      bool ok = box.size() == 4;
      for (absl::string_view v : box) ok &= IsNumber(v);
      if (!ok) return Fail("viewBox is not four numbers");
    }
    if (auto it = attrs.find("points"); it != attrs.end()) {
      const std::vector<absl::string_view> points =
          absl::StrSplit(it->second, ' ', absl::SkipEmpty());
      for (absl::string_view p : points) {
        const std::vector<absl::string_view> xy = absl::StrSplit(p, ',');
        if (xy.size() != 2 || !IsNumber(xy[0]) || !IsNumber(xy[1])) {
          return Fail(absl::StrCat("<", element, "> point \"", p, "\" is not x,y"));
        }
      }
    }
    if (auto it = attrs.find("id"); it != attrs.end()) {
      if (!ids_.insert(it->second).second) return Fail("duplicate id " + it->second);
    }
    if (auto it = attrs.find("clip-path"); it != attrs.end()) {
      const std::string& v = it->second;
      if (v.size() < 7 || v.substr(0, 5) != "url(#" || v.back() != ')') {
        return Fail("clip-path is not url(#id)");
      }
      clip_uses_.push_back({v.substr(5, v.size() - 6), pos_});
    }
    return absl::OkStatus();
  }

  absl::string_view doc_;
  size_t pos_ = 0;
  bool saw_root_ = false;
  std::vector<std::string> open_;
  absl::flat_hash_set<std::string> ids_;
  std::vector<std::pair<std::string, size_t>> clip_uses_;
};

}  // namespace

absl::Status CheckSvg(absl::string_view document) { return Checker(document).Run(); }

}  // namespace actgrad::viz
