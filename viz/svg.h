// -----------------------------------------------------------------------------
// File: svg.h
// -----------------------------------------------------------------------------
//
// The lowest layer of the plotting code: an SVG document assembled element by
// element, with every number printed by one normalizing formatter, so that
// the same figure is always the same bytes (figures are kept in the
// repository and compared in tests; a diff must mean the picture changed).
// Charts (viz/chart.h) draw through it; nothing here knows about axes.
//
// Example:
//
//   actgrad::viz::SvgDocument svg(200, 100);
//   svg.Rect(0, 0, 200, 100, {.fill = "#ffffff"});
//   svg.Polyline({{10, 90}, {100, 10}, {190, 90}},
//                {.stroke = "#0072B2", .stroke_width = 2, .dash = "6 4"});
//   svg.Text(100, 50, "peak", {.anchor = actgrad::viz::Anchor::kMiddle});
//   std::string text = svg.Finish();  // "<svg xmlns=... </svg>\n"

#ifndef ACTGRAD_VIZ_SVG_H_
#define ACTGRAD_VIZ_SVG_H_

#include <span>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace actgrad::viz {

// `v` with at most `decimals` decimals, trailing zeros dropped and "-0"
// printed as "0". Non-finite values print as "0": SVG has no NaN, and a
// caller that lets one through has already lost the point.
std::string FormatNumber(double v, int decimals = 2);

// `text` with &, <, >, " and ' replaced by entities, so it can stand in an
// element or a double-quoted attribute.
std::string EscapeXml(absl::string_view text);

struct Point {
  double x = 0;
  double y = 0;
};

// Presentation of a shape. Empty strings leave the attribute out.
struct Style {
  std::string fill = "none";
  std::string stroke;
  double stroke_width = 1;
  std::string dash;  // stroke-dasharray, e.g. "6 4"
  double opacity = 1;
  std::string clip_id;  // clip-path="url(#clip_id)"
};

enum class Anchor { kStart, kMiddle, kEnd };

struct TextStyle {
  double size = 12;
  Anchor anchor = Anchor::kStart;
  std::string fill = "#222222";
  bool bold = false;
  double rotate = 0;  // degrees, about the anchor point
  // Shifts the baseline so that `y` is the text's vertical centre.
  bool middle_baseline = false;
};

class SvgDocument {
 public:
  // A drawing of `width` x `height` user units (pixels at 100 %).
  SvgDocument(double width, double height);

  void Line(double x1, double y1, double x2, double y2, const Style& style);
  void Rect(double x, double y, double width, double height, const Style& style);
  void Circle(double cx, double cy, double r, const Style& style);
  // Consecutive points joined by straight segments; fewer than two points
  // draw nothing.
  void Polyline(std::span<const Point> points, const Style& style);
  void Polyline(std::initializer_list<Point> points, const Style& style) {
    Polyline(std::span<const Point>(points.begin(), points.size()), style);
  }
  void Polygon(std::span<const Point> points, const Style& style);
  void Text(double x, double y, absl::string_view text, const TextStyle& style = {});
  // A tooltip for the whole drawing, read by screen readers as its name.
  void Title(absl::string_view text);
  // Declares a clip rectangle usable as Style::clip_id.
  void ClipRect(absl::string_view id, double x, double y, double width, double height);

  // The whole document, ending in a newline.
  std::string Finish() const;

  double width() const { return width_; }
  double height() const { return height_; }

 private:
  void AppendStyle(const Style& style);

  double width_;
  double height_;
  std::string defs_;
  std::string title_;
  std::string body_;
};

// An estimate of the rendered width of `text` at `size` in a sans-serif
// font, for laying out legends and margins without a font engine.
double TextWidth(absl::string_view text, double size);

}  // namespace actgrad::viz

#endif  // ACTGRAD_VIZ_SVG_H_
