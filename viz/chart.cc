#include "viz/chart.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "viz/ticks.h"

namespace actgrad::viz {

namespace {

constexpr double kTitleSize = 14;
constexpr double kLabelSize = 12;
constexpr double kTickSize = 11;
constexpr double kLegendSize = 11;
constexpr double kLegendRow = 17;
constexpr double kLegendSample = 24;
constexpr const char* kAxisColor = "#555555";
constexpr const char* kGridColor = "#e4e4e4";
constexpr const char* kTextColor = "#222222";
constexpr const char* kReferenceColor = "#888888";

std::string DashOf(LineStyle line, double width) {
  switch (line) {
    case LineStyle::kDashed:
      return absl::StrCat(FormatNumber(3.5 * width), " ", FormatNumber(2.5 * width));
    case LineStyle::kDotted:
      return absl::StrCat(FormatNumber(0.6 * width), " ", FormatNumber(2 * width));
    default:
      return "";
  }
}

std::string ColorOf(int color) { return color < 0 ? "#444444" : PaletteColor(color); }

// `color` ("#rrggbb") painted at `opacity` over white, as an opaque colour:
// touching cells then leave no darker seams where they overlap.
std::string OverWhite(const std::string& color, double opacity) {
  std::string out = "#";
  for (int i = 0; i < 3; ++i) {
    const int channel = std::stoi(color.substr(1 + 2 * i, 2), nullptr, 16);
    const int blended = static_cast<int>(std::lround(255 - opacity * (255 - channel)));
    absl::StrAppend(&out, absl::Hex(blended, absl::kZeroPad2));
  }
  return out;
}

// One axis: the data range, its ticks, and the map to pixels.
struct Scale {
  Ticks ticks;
  bool log = false;
  double lo = 0;  // in axis units (log10 of the value on a log axis)
  double hi = 1;
  double p0 = 0;  // pixel of lo
  double p1 = 1;  // pixel of hi

  bool Valid(double v) const { return std::isfinite(v) && (!log || v > 0); }
  double Map(double v) const {
    const double u = log ? std::log10(v) : v;
    return p0 + (u - lo) / (hi - lo) * (p1 - p0);
  }
};

Scale MakeScale(const Axis& axis, const std::vector<double>& data, int tick_count) {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  for (double v : data) {
    if (!std::isfinite(v) || (axis.log && v <= 0)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (axis.min.has_value()) lo = *axis.min;
  if (axis.max.has_value()) hi = *axis.max;
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    lo = axis.log ? 0.1 : 0;
    hi = axis.log ? 10 : 1;
  }
  Scale s;
  s.log = axis.log;
  s.ticks = axis.log ? LogTicks(lo, hi) : NiceTicks(lo, hi, tick_count);
  // Fixed ends stay where they were asked to be; ticks outside them go, and
  // a finer step is tried until at least three remain.
  if (axis.min.has_value() || axis.max.has_value()) {
    const double a = axis.min.value_or(s.ticks.lo);
    const double b = axis.max.value_or(s.ticks.hi);
    if (b > a && (!axis.log || a > 0)) {
      Ticks kept;
      for (int extra = 0; extra < 8 && kept.values.size() < 3; ++extra) {
        const Ticks t = axis.log ? LogTicks(a, b) : NiceTicks(a, b, tick_count + extra);
        kept = Ticks();
        const double slack = (b - a) * 1e-9;
        for (size_t i = 0; i < t.values.size(); ++i) {
          if (t.values[i] >= a - slack && t.values[i] <= b + slack) {
            kept.values.push_back(t.values[i]);
            kept.labels.push_back(t.labels[i]);
          }
        }
        if (axis.log) break;
      }
      kept.lo = a;
      kept.hi = b;
      s.ticks = kept;
    }
  }
  s.lo = axis.log ? std::log10(s.ticks.lo) : s.ticks.lo;
  s.hi = axis.log ? std::log10(s.ticks.hi) : s.ticks.hi;
  if (s.hi <= s.lo) s.hi = s.lo + 1;
  return s;
}

struct Box {
  double x0, y0, x1, y1;
};

// Clips the segment a-b to `box` (Liang-Barsky); false when nothing is left.
bool ClipSegment(const Box& box, Point& a, Point& b) {
  const double dx = b.x - a.x;
  const double dy = b.y - a.y;
  double t0 = 0;
  double t1 = 1;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {a.x - box.x0, box.x1 - a.x, a.y - box.y0, box.y1 - a.y};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;
      continue;
    }
    const double t = q[i] / p[i];
    if (p[i] < 0) {
      t0 = std::max(t0, t);
    } else {
      t1 = std::min(t1, t);
    }
    if (t0 > t1) return false;
  }
  const Point start{a.x + t0 * dx, a.y + t0 * dy};
  const Point end{a.x + t1 * dx, a.y + t1 * dy};
  a = start;
  b = end;
  return true;
}

// Ramer-Douglas-Peucker: drops points within `epsilon` pixels of the line
// through their kept neighbours, so straight stretches cost two points.
std::vector<Point> Simplify(const std::vector<Point>& points, double epsilon) {
  if (points.size() < 3) return points;
  std::vector<bool> keep(points.size(), false);
  keep.front() = keep.back() = true;
  std::vector<std::pair<size_t, size_t>> stack = {{0, points.size() - 1}};
  while (!stack.empty()) {
    const auto [first, last] = stack.back();
    stack.pop_back();
    const Point& a = points[first];
    const Point& b = points[last];
    const double dx = b.x - a.x;
    const double dy = b.y - a.y;
    const double length = std::hypot(dx, dy);
    double worst = -1;
    size_t worst_index = first;
    for (size_t i = first + 1; i < last; ++i) {
      const double d = length == 0
                           ? std::hypot(points[i].x - a.x, points[i].y - a.y)
                           : std::abs(dy * (points[i].x - a.x) - dx * (points[i].y - a.y)) / length;
      if (d > worst) {
        worst = d;
        worst_index = i;
      }
    }
    if (worst > epsilon) {
      keep[worst_index] = true;
      stack.push_back({first, worst_index});
      stack.push_back({worst_index, last});
    }
  }
  std::vector<Point> out;
  for (size_t i = 0; i < points.size(); ++i) {
    if (keep[i]) out.push_back(points[i]);
  }
  return out;
}

// The visible runs of a polyline through `points` (NaN: a break).
std::vector<std::vector<Point>> VisibleRuns(const std::vector<Point>& points, const Box& box) {
  std::vector<std::vector<Point>> runs;
  std::vector<Point> run;
  auto flush = [&] {
    if (run.size() >= 2) runs.push_back(Simplify(run, 0.1));
    run.clear();
  };
  for (size_t i = 0; i + 1 < points.size(); ++i) {
    Point a = points[i];
    Point b = points[i + 1];
    if (!std::isfinite(a.y) || !std::isfinite(b.y) || !std::isfinite(a.x) || !std::isfinite(b.x)) {
      flush();
      continue;
    }
    const Point original_b = b;
    if (!ClipSegment(box, a, b)) {
      flush();
      continue;
    }
    if (run.empty() || run.back().x != a.x || run.back().y != a.y) {
      flush();
      run.push_back(a);
    }
    run.push_back(b);
    if (b.x != original_b.x || b.y != original_b.y) flush();
  }
  flush();
  return runs;
}

// The frame shared by both chart kinds: title, legend, axes, grid, labels.
struct Frame {
  Box plot;  // the plotting area, in document pixels
  double legend_x = 0;
  double legend_y = 0;
  std::vector<std::vector<size_t>> legend_rows;  // kTop: entries per row
};

double LegendWidth(const std::vector<LegendEntry>& entries) {
  double w = 0;
  for (const LegendEntry& e : entries) w = std::max(w, TextWidth(e.label, kLegendSize));
  return w + kLegendSample + 8;
}

Frame LayOut(const ChartOptions& o, const std::vector<LegendEntry>& legend,
             const std::vector<std::string>& y_labels, double bottom_labels, double x, double y,
             double width, double height) {
  Frame f;
  double top = y + (o.title.empty() ? 10 : 30);
  double right = x + width - 16;
  if (!legend.empty() && o.legend == LegendPlace::kRight) {
    right -= LegendWidth(legend) + 10;
    f.legend_x = right + 18;
  }
  if (!legend.empty() && o.legend == LegendPlace::kTop) {
    // Entries flow left to right, wrapping at the chart's width.
    double used = 0;
    f.legend_rows.push_back({});
    for (size_t i = 0; i < legend.size(); ++i) {
      const double w = kLegendSample + 8 + TextWidth(legend[i].label, kLegendSize) + 14;
      if (used > 0 && used + w > width - 24) {
        f.legend_rows.push_back({});
        used = 0;
      }
      f.legend_rows.back().push_back(i);
      used += w;
    }
    f.legend_x = x + 12;
    f.legend_y = top;
    top += kLegendRow * f.legend_rows.size() + 4;
  }
  double tick_width = 0;
  for (const std::string& label : y_labels) {
    tick_width = std::max(tick_width, TextWidth(label, kTickSize));
  }
  const double left = x + 10 + (o.y.label.empty() ? 0 : 20) + tick_width + 8;
  const double bottom = y + height - 8 - bottom_labels - (o.x.label.empty() ? 0 : 20);
  f.plot = {left, top, std::max(right, left + 10), std::max(bottom, top + 10)};
  if (o.legend == LegendPlace::kRight) f.legend_y = top + 4;
  return f;
}

// White, outlined and struck through with 45° lines of `color`: it reads as
// "not a full measurement" next to solid bars of the same colour.
void HatchedRect(SvgDocument& svg, double x, double y, double width, double height,
                 const std::string& color, const std::string& clip) {
  svg.Rect(x, y, width, height,
           {.fill = "#ffffff", .stroke = color, .stroke_width = 1.4, .clip_id = clip});
  const Style stroke{.stroke = color, .stroke_width = 1.2, .clip_id = clip};
  constexpr double kGap = 5;
  // Lines v = u + c in coordinates (u, v) from the bottom-left corner, up.
  for (double c = -width + kGap / 2; c < height; c += kGap) {
    const double lo = std::max(0.0, -c);
    const double hi = std::min(width, height - c);
    if (hi <= lo) continue;
    svg.Line(x + lo, y + height - (lo + c), x + hi, y + height - (hi + c), stroke);
  }
}

void DrawLegend(SvgDocument& svg, const ChartOptions& o, const std::vector<LegendEntry>& legend,
                const Frame& f) {
  auto entry = [&](const LegendEntry& e, double ex, double ey) {
    const std::string color = ColorOf(e.color);
    if (e.hatch) {
      HatchedRect(svg, ex + kLegendSample / 2 - 6, ey - 6, 12, 12, color, "");
    } else if (e.swatch) {
      svg.Rect(ex + kLegendSample / 2 - 6, ey - 6, 12, 12, {.fill = color});
    } else if (e.line != LineStyle::kNone) {
      svg.Line(ex, ey, ex + kLegendSample, ey,
               {.stroke = color, .stroke_width = 2, .dash = DashOf(e.line, 2)});
    }
    if (e.marker) svg.Circle(ex + kLegendSample / 2, ey, 3, {.fill = color});
    svg.Text(ex + kLegendSample + 6, ey + kLegendSize * 0.35, e.label,
             {.size = kLegendSize, .fill = kTextColor});
  };
  if (o.legend == LegendPlace::kRight) {
    for (size_t i = 0; i < legend.size(); ++i) {
      entry(legend[i], f.legend_x, f.legend_y + kLegendRow * i + kLegendRow / 2);
    }
  } else if (o.legend == LegendPlace::kTop) {
    for (size_t r = 0; r < f.legend_rows.size(); ++r) {
      double ex = f.legend_x;
      for (size_t i : f.legend_rows[r]) {
        entry(legend[i], ex, f.legend_y + kLegendRow * r + kLegendRow / 2);
        ex += kLegendSample + 8 + TextWidth(legend[i].label, kLegendSize) + 14;
      }
    }
  }
}

void DrawTitleAndLabels(SvgDocument& svg, const ChartOptions& o, const Frame& f, double x, double y,
                        double width, double height) {
  if (!o.title.empty()) {
    svg.Text(x + width / 2, y + 20, o.title,
             {.size = kTitleSize, .anchor = Anchor::kMiddle, .fill = kTextColor, .bold = true});
  }
  if (!o.x.label.empty()) {
    svg.Text((f.plot.x0 + f.plot.x1) / 2, y + height - 10, o.x.label,
             {.size = kLabelSize, .anchor = Anchor::kMiddle, .fill = kTextColor});
  }
  if (!o.y.label.empty()) {
    svg.Text(x + 16, (f.plot.y0 + f.plot.y1) / 2, o.y.label,
             {.size = kLabelSize, .anchor = Anchor::kMiddle, .fill = kTextColor, .rotate = -90});
  }
}

// Horizontal grid lines and labels of a value axis on the left.
void DrawValueAxis(SvgDocument& svg, const Scale& ys, const Frame& f) {
  for (size_t i = 0; i < ys.ticks.values.size(); ++i) {
    const double py = ys.Map(ys.ticks.values[i]);
    svg.Line(f.plot.x0, py, f.plot.x1, py, {.stroke = kGridColor});
    svg.Line(f.plot.x0 - 4, py, f.plot.x0, py, {.stroke = kAxisColor});
    svg.Text(f.plot.x0 - 7, py + kTickSize * 0.35, ys.ticks.labels[i],
             {.size = kTickSize, .anchor = Anchor::kEnd, .fill = kTextColor});
  }
}

void DrawAxisLines(SvgDocument& svg, const Frame& f) {
  svg.Line(f.plot.x0, f.plot.y1, f.plot.x1, f.plot.y1, {.stroke = kAxisColor});
  svg.Line(f.plot.x0, f.plot.y0, f.plot.x0, f.plot.y1, {.stroke = kAxisColor});
}

int TickCount(double pixels, double per_tick) {
  return std::clamp(static_cast<int>(pixels / per_tick), 3, 10);
}

}  // namespace

std::string PaletteColor(int index) {
  static constexpr const char* kPalette[kPaletteSize] = {
      "#0072B2",  // blue
      "#D55E00",  // vermillion
      "#009E73",  // bluish green
      "#CC79A7",  // reddish purple
      "#E69F00",  // orange
      "#56B4E9",  // sky blue
      "#000000",  // black
      "#F0E442",  // yellow: faint on white, so last
  };
  return kPalette[((index % kPaletteSize) + kPaletteSize) % kPaletteSize];
}

std::string Chart::ToSvg(absl::string_view id) const {
  SvgDocument svg(options_.width, options_.height);
  if (!options_.title.empty()) svg.Title(options_.title);
  svg.Rect(0, 0, options_.width, options_.height, {.fill = "#ffffff"});
  Draw(svg, 0, 0, options_.width, options_.height, id);
  return svg.Finish();
}

LineChart& LineChart::Add(Series series) {
  series_.push_back(std::move(series));
  return *this;
}

LineChart& LineChart::AddHorizontalLine(double y, std::string label) {
  references_.push_back({true, y, std::move(label)});
  return *this;
}

LineChart& LineChart::AddVerticalLine(double x, std::string label) {
  references_.push_back({false, x, std::move(label)});
  return *this;
}

LineChart& LineChart::SetRegions(ClassRegions regions) {
  regions_ = std::move(regions);
  return *this;
}

void LineChart::Draw(SvgDocument& svg, double x, double y, double width, double height,
                     absl::string_view id) const {
  const ChartOptions& o = options_;
  std::vector<double> xs;
  std::vector<double> ys;
  for (const Series& s : series_) {
    xs.insert(xs.end(), s.x.begin(), s.x.end());
    ys.insert(ys.end(), s.y.begin(), s.y.end());
    ys.insert(ys.end(), s.y_low.begin(), s.y_low.end());
    ys.insert(ys.end(), s.y_high.begin(), s.y_high.end());
  }
  for (const Reference& r : references_) (r.horizontal ? ys : xs).push_back(r.value);
  if (regions_.has_value()) {
    xs.insert(xs.end(), {regions_->x_min, regions_->x_max});
    ys.insert(ys.end(), {regions_->y_min, regions_->y_max});
  }

  std::vector<LegendEntry> legend;
  for (size_t i = 0; i < series_.size(); ++i) {
    const Series& s = series_[i];
    if (s.label.empty()) continue;
    legend.push_back({.label = s.label,
                      .color = s.color >= 0 ? s.color : static_cast<int>(i),
                      .line = s.line,
                      .marker = s.markers});
  }
  legend.insert(legend.end(), o.extra_legend.begin(), o.extra_legend.end());

  Scale yscale = MakeScale(o.y, ys, TickCount(height, 55));
  const Frame f = LayOut(o, legend, yscale.ticks.labels, 16, x, y, width, height);
  Scale xscale = MakeScale(o.x, xs, TickCount(f.plot.x1 - f.plot.x0, 80));
  xscale.p0 = f.plot.x0;
  xscale.p1 = f.plot.x1;
  yscale.p0 = f.plot.y1;
  yscale.p1 = f.plot.y0;

  // The clip reaches a line's half-width past the frame, so a curve along an
  // edge of the plot (a derivative of exactly 1 on a [0, 1] axis) is drawn whole.
  const std::string clip = absl::StrCat(id, "-plot");
  svg.ClipRect(clip, f.plot.x0 - 2, f.plot.y0 - 2, f.plot.x1 - f.plot.x0 + 4,
               f.plot.y1 - f.plot.y0 + 4);

  if (regions_.has_value() && regions_->columns > 0 && regions_->rows > 0) {
    // One rectangle per run of equal cells in a row keeps the file small.
    const ClassRegions& r = *regions_;
    const double cw = (r.x_max - r.x_min) / r.columns;
    const double ch = (r.y_max - r.y_min) / r.rows;
    for (int row = 0; row < r.rows; ++row) {
      for (int col = 0; col < r.columns;) {
        const int cls = r.classes[size_t(row) * r.columns + col];
        int end = col + 1;
        while (end < r.columns && r.classes[size_t(row) * r.columns + end] == cls) ++end;
        if (cls >= 0) {
          const double px0 = xscale.Map(r.x_min + col * cw);
          const double px1 = xscale.Map(r.x_min + end * cw);
          const double py0 = yscale.Map(r.y_min + (row + 1) * ch);
          const double py1 = yscale.Map(r.y_min + row * ch);
          // A hair of overlap hides the seams antialiasing leaves between cells.
          svg.Rect(px0, py0, px1 - px0 + 0.3, py1 - py0 + 0.3,
                   {.fill = OverWhite(PaletteColor(cls), r.opacity), .clip_id = clip});
        }
        col = end;
      }
    }
  }

  DrawValueAxis(svg, yscale, f);
  for (size_t i = 0; i < xscale.ticks.values.size(); ++i) {
    const double px = xscale.Map(xscale.ticks.values[i]);
    svg.Line(px, f.plot.y0, px, f.plot.y1, {.stroke = kGridColor});
    svg.Line(px, f.plot.y1, px, f.plot.y1 + 4, {.stroke = kAxisColor});
    svg.Text(px, f.plot.y1 + 6 + kTickSize, xscale.ticks.labels[i],
             {.size = kTickSize, .anchor = Anchor::kMiddle, .fill = kTextColor});
  }

  for (const Reference& r : references_) {
    const Scale& s = r.horizontal ? yscale : xscale;
    if (!s.Valid(r.value)) continue;
    const double p = s.Map(r.value);
    if (r.horizontal) {
      if (p < f.plot.y0 || p > f.plot.y1) continue;
      svg.Line(f.plot.x0, p, f.plot.x1, p,
               {.stroke = kReferenceColor, .stroke_width = 1, .dash = "4 3"});
      if (!r.label.empty()) {
        svg.Text(f.plot.x1 - 4, p - 4, r.label,
                 {.size = kTickSize, .anchor = Anchor::kEnd, .fill = kReferenceColor});
      }
    } else {
      if (p < f.plot.x0 || p > f.plot.x1) continue;
      svg.Line(p, f.plot.y0, p, f.plot.y1,
               {.stroke = kReferenceColor, .stroke_width = 1, .dash = "4 3"});
      if (!r.label.empty()) {
        svg.Text(p + 4, f.plot.y0 + kTickSize + 2, r.label,
                 {.size = kTickSize, .fill = kReferenceColor});
      }
    }
  }

  // Pixel coordinates far outside the plot are clamped before clipping so
  // that they stay printable; the clip box keeps what is drawn exact.
  const double margin = 4;
  const Box view{f.plot.x0 - margin, f.plot.y0 - margin, f.plot.x1 + margin, f.plot.y1 + margin};
  auto to_pixels = [&](const std::vector<double>& sx, const std::vector<double>& sy) {
    std::vector<Point> points;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (size_t i = 0; i < sx.size() && i < sy.size(); ++i) {
      if (!xscale.Valid(sx[i]) || !yscale.Valid(sy[i])) {
        points.push_back({nan, nan});
        continue;
      }
      points.push_back(
          {std::clamp(xscale.Map(sx[i]), -1e6, 1e6), std::clamp(yscale.Map(sy[i]), -1e6, 1e6)});
    }
    return points;
  };

  for (size_t i = 0; i < series_.size(); ++i) {
    const Series& s = series_[i];
    if (s.y_low.size() != s.x.size() || s.y_high.size() != s.x.size() || s.x.empty()) continue;
    const std::string color = PaletteColor(s.color >= 0 ? s.color : static_cast<int>(i));
    std::vector<Point> upper = to_pixels(s.x, s.y_high);
    std::vector<Point> lower = to_pixels(s.x, s.y_low);
    std::vector<Point> polygon;
    for (const Point& p : upper) {
      if (std::isfinite(p.x)) polygon.push_back({p.x, std::clamp(p.y, view.y0, view.y1)});
    }
    for (auto it = lower.rbegin(); it != lower.rend(); ++it) {
      if (std::isfinite(it->x)) polygon.push_back({it->x, std::clamp(it->y, view.y0, view.y1)});
    }
    svg.Polygon(polygon, {.fill = color, .opacity = 0.18, .clip_id = clip});
  }
  for (size_t i = 0; i < series_.size(); ++i) {
    const Series& s = series_[i];
    const std::string color = PaletteColor(s.color >= 0 ? s.color : static_cast<int>(i));
    const std::vector<Point> points = to_pixels(s.x, s.y);
    if (s.line != LineStyle::kNone) {
      for (const std::vector<Point>& run : VisibleRuns(points, view)) {
        svg.Polyline(run, {.stroke = color,
                           .stroke_width = s.width,
                           .dash = DashOf(s.line, s.width),
                           .clip_id = clip});
      }
    }
    if (s.markers) {
      for (const Point& p : points) {
        if (!std::isfinite(p.x) || p.x < f.plot.x0 || p.x > f.plot.x1 || p.y < f.plot.y0 ||
            p.y > f.plot.y1) {
          continue;
        }
        svg.Circle(p.x, p.y, s.line == LineStyle::kNone ? 2.2 : 2.8, {.fill = color});
      }
    }
  }

  DrawAxisLines(svg, f);
  DrawTitleAndLabels(svg, o, f, x, y, width, height);
  DrawLegend(svg, o, legend, f);
}

BarChart& BarChart::Add(BarSeries series) {
  series_.push_back(std::move(series));
  return *this;
}

void BarChart::Draw(SvgDocument& svg, double x, double y, double width, double height,
                    absl::string_view id) const {
  const ChartOptions& o = options_;
  std::vector<double> values;
  if (!o.y.log) values.push_back(0);
  for (const BarSeries& s : series_) {
    values.insert(values.end(), s.values.begin(), s.values.end());
    values.insert(values.end(), s.low.begin(), s.low.end());
    values.insert(values.end(), s.high.begin(), s.high.end());
  }
  std::vector<LegendEntry> legend;
  for (size_t i = 0; i < series_.size(); ++i) {
    if (series_[i].label.empty()) continue;
    legend.push_back({.label = series_[i].label,
                      .color = series_[i].color >= 0 ? series_[i].color : static_cast<int>(i),
                      .swatch = true});
  }
  legend.insert(legend.end(), o.extra_legend.begin(), o.extra_legend.end());

  Scale yscale = MakeScale(o.y, values, TickCount(height, 55));
  // Category names that do not fit their slot are written at a slant, which
  // needs room below the axis: lay out once level, and again if they clash.
  double longest = 0;
  for (const std::string& c : categories_) longest = std::max(longest, TextWidth(c, kTickSize));
  const size_t slots = std::max<size_t>(categories_.size(), 1);
  Frame f = LayOut(o, legend, yscale.ticks.labels, 16, x, y, width, height);
  const bool slanted = longest > 0.92 * (f.plot.x1 - f.plot.x0) / slots;
  if (slanted) {
    f = LayOut(o, legend, yscale.ticks.labels, longest * 0.6 + 14, x, y, width, height);
  }
  yscale.p0 = f.plot.y1;
  yscale.p1 = f.plot.y0;

  DrawValueAxis(svg, yscale, f);
  const std::string clip = absl::StrCat(id, "-plot");
  svg.ClipRect(clip, f.plot.x0, f.plot.y0, f.plot.x1 - f.plot.x0, f.plot.y1 - f.plot.y0);

  const double slot = (f.plot.x1 - f.plot.x0) / std::max<size_t>(categories_.size(), 1);
  const double group = slot * 0.78;
  const double bar = group / std::max<size_t>(series_.size(), 1);
  const double base = o.y.log ? f.plot.y1 : std::clamp(yscale.Map(0), f.plot.y0, f.plot.y1);
  for (size_t c = 0; c < categories_.size(); ++c) {
    const double center = f.plot.x0 + slot * (c + 0.5);
    if (slanted) {
      svg.Text(center, f.plot.y1 + 8 + kTickSize, categories_[c],
               {.size = kTickSize, .anchor = Anchor::kEnd, .fill = kTextColor, .rotate = -35});
    } else {
      svg.Text(center, f.plot.y1 + 6 + kTickSize, categories_[c],
               {.size = kTickSize, .anchor = Anchor::kMiddle, .fill = kTextColor});
    }
    for (size_t i = 0; i < series_.size(); ++i) {
      const BarSeries& s = series_[i];
      if (c >= s.values.size() || !yscale.Valid(s.values[c])) continue;
      const std::string color = PaletteColor(s.color >= 0 ? s.color : static_cast<int>(i));
      const double left = center - group / 2 + bar * i;
      const double top = std::clamp(yscale.Map(s.values[c]), f.plot.y0 - 2, f.plot.y1);
      if (c < s.hatched.size() && s.hatched[c]) {
        HatchedRect(svg, left + bar * 0.06, std::min(top, base), bar * 0.88, std::abs(base - top),
                    color, clip);
      } else {
        svg.Rect(left + bar * 0.06, std::min(top, base), bar * 0.88, std::abs(base - top),
                 {.fill = color, .clip_id = clip});
      }
      if (c < s.low.size() && c < s.high.size() && yscale.Valid(s.low[c]) &&
          yscale.Valid(s.high[c])) {
        const double mid = left + bar / 2;
        const double lo = std::clamp(yscale.Map(s.low[c]), f.plot.y0, f.plot.y1);
        const double hi = std::clamp(yscale.Map(s.high[c]), f.plot.y0, f.plot.y1);
        const Style error{.stroke = "#222222", .stroke_width = 1.2};
        svg.Line(mid, lo, mid, hi, error);
        svg.Line(mid - bar * 0.18, lo, mid + bar * 0.18, lo, error);
        svg.Line(mid - bar * 0.18, hi, mid + bar * 0.18, hi, error);
      }
    }
  }
  DrawAxisLines(svg, f);
  DrawTitleAndLabels(svg, o, f, x, y, width, height);
  DrawLegend(svg, o, legend, f);
}

Series HistogramSeries(std::string label, std::span<const double> values, double lo, double hi,
                       int bins) {
  bins = std::max(bins, 1);
  if (!(hi > lo)) hi = lo + 1;
  std::vector<double> counts(bins, 0);
  double total = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    total += 1;
    if (v < lo || v > hi) continue;
    counts[std::min(static_cast<int>((v - lo) / (hi - lo) * bins), bins - 1)] += 1;
  }
  Series s;
  s.label = std::move(label);
  s.width = 1.6;
  const double step = (hi - lo) / bins;
  s.x.push_back(lo);
  s.y.push_back(0);
  for (int b = 0; b < bins; ++b) {
    const double fraction = total > 0 ? counts[b] / total : 0;
    s.x.insert(s.x.end(), {lo + step * b, lo + step * (b + 1)});
    s.y.insert(s.y.end(), {fraction, fraction});
  }
  s.x.push_back(hi);
  s.y.push_back(0);
  return s;
}

std::string RenderGrid(std::span<const Chart* const> charts, int columns, absl::string_view title,
                       absl::string_view id) {
  columns = std::max(columns, 1);
  double cell_w = 0;
  double cell_h = 0;
  for (const Chart* c : charts) {
    cell_w = std::max(cell_w, c->options().width);
    cell_h = std::max(cell_h, c->options().height);
  }
  const int rows = (static_cast<int>(charts.size()) + columns - 1) / columns;
  const double title_h = title.empty() ? 0 : 30;
  const int used_columns = std::min<int>(columns, static_cast<int>(charts.size()));
  SvgDocument svg(cell_w * std::max(used_columns, 1), title_h + cell_h * rows);
  if (!title.empty()) svg.Title(title);
  svg.Rect(0, 0, svg.width(), svg.height(), {.fill = "#ffffff"});
  if (!title.empty()) {
    svg.Text(svg.width() / 2, 21, title,
             {.size = kTitleSize + 1, .anchor = Anchor::kMiddle, .fill = kTextColor, .bold = true});
  }
  for (size_t i = 0; i < charts.size(); ++i) {
    const double cx = cell_w * (i % columns);
    const double cy = title_h + cell_h * (i / columns);
    charts[i]->Draw(svg, cx, cy, cell_w, cell_h, absl::StrCat(id, "-", i));
  }
  return svg.Finish();
}

}  // namespace actgrad::viz
