#include "viz/svg.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace actgrad::viz {

std::string FormatNumber(double v, int decimals) {
  if (!std::isfinite(v)) return "0";
  std::string s = absl::StrFormat("%.*f", decimals, v);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string EscapeXml(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

double TextWidth(absl::string_view text, double size) {
  double em = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) == 0x80) continue;  // a UTF-8 continuation byte
    if (absl::ascii_isupper(c) || c == 'm' || c == 'w') {
      em += 0.72;
    } else if (c == 'i' || c == 'l' || c == 'j' || c == '.' || c == ',' || c == '\'' || c == '|' ||
               c == '!' || c == ':' || c == ' ' || c == 'f' || c == 't' || c == '(' || c == ')' ||
               c == '[' || c == ']') {
      em += 0.32;
    } else {
      em += 0.56;
    }
  }
  return em * size;
}

SvgDocument::SvgDocument(double width, double height) : width_(width), height_(height) {}

void SvgDocument::AppendStyle(const Style& style) {
  absl::StrAppend(&body_, " fill=\"", style.fill.empty() ? "none" : style.fill, "\"");
  if (!style.stroke.empty()) {
    absl::StrAppend(&body_, " stroke=\"", style.stroke, "\" stroke-width=\"",
                    FormatNumber(style.stroke_width), "\"");
  }
  if (!style.dash.empty()) absl::StrAppend(&body_, " stroke-dasharray=\"", style.dash, "\"");
  if (style.opacity != 1)
    absl::StrAppend(&body_, " opacity=\"", FormatNumber(style.opacity, 3), "\"");
  if (!style.clip_id.empty()) {
    absl::StrAppend(&body_, " clip-path=\"url(#", style.clip_id, ")\"");
  }
}

void SvgDocument::Line(double x1, double y1, double x2, double y2, const Style& style) {
  absl::StrAppend(&body_, "<line x1=\"", FormatNumber(x1), "\" y1=\"", FormatNumber(y1), "\" x2=\"",
                  FormatNumber(x2), "\" y2=\"", FormatNumber(y2), "\"");
  AppendStyle(style);
  body_ += "/>\n";
}

void SvgDocument::Rect(double x, double y, double width, double height, const Style& style) {
  absl::StrAppend(&body_, "<rect x=\"", FormatNumber(x), "\" y=\"", FormatNumber(y), "\" width=\"",
                  FormatNumber(width), "\" height=\"", FormatNumber(height), "\"");
  AppendStyle(style);
  body_ += "/>\n";
}

void SvgDocument::Circle(double cx, double cy, double r, const Style& style) {
  absl::StrAppend(&body_, "<circle cx=\"", FormatNumber(cx), "\" cy=\"", FormatNumber(cy),
                  "\" r=\"", FormatNumber(r), "\"");
  AppendStyle(style);
  body_ += "/>\n";
}

namespace {

std::string PointList(std::span<const Point> points) {
  std::string out;
  for (size_t i = 0; i < points.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : " ", FormatNumber(points[i].x), ",",
                    FormatNumber(points[i].y));
  }
  return out;
}

}  // namespace

void SvgDocument::Polyline(std::span<const Point> points, const Style& style) {
  if (points.size() < 2) return;
  absl::StrAppend(&body_, "<polyline points=\"", PointList(points), "\"");
  AppendStyle(style);
  // Joins stay round so that a dense curve looks like a curve.
  body_ += " stroke-linejoin=\"round\" stroke-linecap=\"round\"/>\n";
}

void SvgDocument::Polygon(std::span<const Point> points, const Style& style) {
  if (points.size() < 3) return;
  absl::StrAppend(&body_, "<polygon points=\"", PointList(points), "\"");
  AppendStyle(style);
  body_ += "/>\n";
}

void SvgDocument::Text(double x, double y, absl::string_view text, const TextStyle& style) {
  const char* anchor = style.anchor == Anchor::kStart    ? "start"
                       : style.anchor == Anchor::kMiddle ? "middle"
                                                         : "end";
  absl::StrAppend(&body_, "<text x=\"", FormatNumber(x), "\" y=\"", FormatNumber(y),
                  "\" font-size=\"", FormatNumber(style.size), "\" text-anchor=\"", anchor,
                  "\" fill=\"", style.fill, "\"");
  if (style.bold) body_ += " font-weight=\"bold\"";
  if (style.middle_baseline) body_ += " dominant-baseline=\"central\"";
  if (style.rotate != 0) {
    absl::StrAppend(&body_, " transform=\"rotate(", FormatNumber(style.rotate), " ",
                    FormatNumber(x), " ", FormatNumber(y), ")\"");
  }
  absl::StrAppend(&body_, ">", EscapeXml(text), "</text>\n");
}

void SvgDocument::Title(absl::string_view text) { title_ = EscapeXml(text); }

void SvgDocument::ClipRect(absl::string_view id, double x, double y, double width, double height) {
  absl::StrAppend(&defs_, "<clipPath id=\"", EscapeXml(id), "\"><rect x=\"", FormatNumber(x),
                  "\" y=\"", FormatNumber(y), "\" width=\"", FormatNumber(width), "\" height=\"",
                  FormatNumber(height), "\"/></clipPath>\n");
}

std::string SvgDocument::Finish() const {
  std::string out = absl::StrCat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", FormatNumber(width_), "\" height=\"",
      FormatNumber(height_), "\" viewBox=\"0 0 ", FormatNumber(width_), " ", FormatNumber(height_),
      "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" role=\"img\">\n");
  if (!title_.empty()) absl::StrAppend(&out, "<title>", title_, "</title>\n");
  if (!defs_.empty()) absl::StrAppend(&out, "<defs>\n", defs_, "</defs>\n");
  absl::StrAppend(&out, body_, "</svg>\n");
  return out;
}

}  // namespace actgrad::viz
