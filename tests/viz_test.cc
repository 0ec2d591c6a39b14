// The SVG writer, charts, activation plots and reports: numbers are printed
// one normalized way, ticks are nice, every figure is well-formed SVG and the
// same bytes every time, legends and dashed derivatives are where they should
// be, and the structural checker itself catches broken documents.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "actgrad.h"
#include "tests/test_util.h"
#include "viz/activation_plot.h"
#include "viz/chart.h"
#include "viz/report.h"
#include "viz/svg.h"
#include "viz/svg_check.h"
#include "viz/ticks.h"

namespace actgrad {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

int Count(absl::string_view text, absl::string_view what) {
  int n = 0;
  for (size_t at = text.find(what); at != absl::string_view::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

TEST(FormatNumberTest, PrintsOneNormalizedForm) {
  EXPECT_EQ(viz::FormatNumber(2.0), "2");
  EXPECT_EQ(viz::FormatNumber(1.5), "1.5");
  EXPECT_EQ(viz::FormatNumber(3.14159), "3.14");
  EXPECT_EQ(viz::FormatNumber(-0.004), "0");  // no "-0"
  EXPECT_EQ(viz::FormatNumber(-12.5), "-12.5");
  EXPECT_EQ(viz::FormatNumber(0.1 + 0.2, 3), "0.3");
  EXPECT_EQ(viz::FormatNumber(std::numeric_limits<double>::quiet_NaN()), "0");
  EXPECT_EQ(viz::FormatNumber(std::numeric_limits<double>::infinity()), "0");
}

TEST(EscapeXmlTest, EscapesMarkup) {
  EXPECT_EQ(viz::EscapeXml("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
}

TEST(TicksTest, NiceNumbersCoverTheRange) {
  const viz::Ticks t = viz::NiceTicks(-0.37, 4.2, 6);
  EXPECT_EQ(t.lo, -1);
  EXPECT_EQ(t.hi, 5);
  EXPECT_THAT(t.labels, ElementsAre("-1", "0", "1", "2", "3", "4", "5"));
}

TEST(TicksTest, LabelsCarryNoFloatNoise) {
  const viz::Ticks t = viz::NiceTicks(0, 1, 6);
  EXPECT_THAT(t.labels, ElementsAre("0", "0.2", "0.4", "0.6", "0.8", "1"));
  const viz::Ticks small = viz::NiceTicks(0.1, 0.3, 3);
  for (const std::string& label : small.labels) EXPECT_LE(label.size(), 3u) << label;
}

TEST(TicksTest, DegenerateRangesStillGiveAnAxis) {
  for (auto [lo, hi] : {std::pair{3.0, 3.0}, std::pair{0.0, 0.0}, std::pair{std::nan(""), 1.0},
                        std::pair{5.0, -5.0}}) {
    const viz::Ticks t = viz::NiceTicks(lo, hi, 5);
    EXPECT_LT(t.lo, t.hi) << lo << " " << hi;
    EXPECT_GE(t.values.size(), 2u);
  }
}

TEST(TicksTest, LogTicksAtPowersOfTen) {
  const viz::Ticks t = viz::LogTicks(3e-5, 0.2);
  EXPECT_THAT(t.labels, ElementsAre("1e-5", "1e-4", "0.001", "0.01", "0.1", "1"));
  const viz::Ticks short_range = viz::LogTicks(0.1, 2);
  EXPECT_THAT(short_range.labels, ElementsAre("0.1", "0.2", "0.5", "1", "2", "5", "10"));
}

TEST(PaletteTest, ColourBlindSafeColoursWrapAround) {
  EXPECT_EQ(viz::PaletteColor(0), "#0072B2");
  EXPECT_EQ(viz::PaletteColor(viz::kPaletteSize), viz::PaletteColor(0));
  EXPECT_EQ(viz::PaletteColor(-1), viz::PaletteColor(viz::kPaletteSize - 1));
}

viz::LineChart SampleChart() {
  viz::LineChart chart({.title = "curves & <things>",
                        .x = {.label = "epoch"},
                        .y = {.label = "loss", .log = true},
                        .extra_legend = {{.label = "key", .line = viz::LineStyle::kDotted}}});
  std::vector<double> x;
  std::vector<double> y;
  for (int i = 1; i <= 50; ++i) {
    x.push_back(i);
    y.push_back(1.0 / i);
  }
  chart.Add({.label = "solid one", .x = x, .y = y});
  std::vector<double> low(y);
  std::vector<double> high(y);
  for (double& v : low) v *= 0.8;
  for (double& v : high) v *= 1.2;
  chart.Add({.label = "dashed two",
             .x = x,
             .y = y,
             .y_low = low,
             .y_high = high,
             .line = viz::LineStyle::kDashed});
  chart.AddHorizontalLine(0.1, "target");
  return chart;
}

TEST(LineChartTest, IsWellFormedAndDeterministic) {
  const std::string svg = SampleChart().ToSvg("sample");
  EXPECT_TRUE(viz::CheckSvg(svg).ok()) << viz::CheckSvg(svg);
  EXPECT_EQ(svg, SampleChart().ToSvg("sample"));
  EXPECT_THAT(svg, HasSubstr("curves &amp; &lt;things&gt;"));
}

TEST(LineChartTest, HasAxesLabelsLegendAndDashes) {
  const std::string svg = SampleChart().ToSvg("sample");
  for (const char* text :
       {">epoch<", ">loss<", ">solid one<", ">dashed two<", ">key<", ">target<", ">0.1<"}) {
    EXPECT_THAT(svg, HasSubstr(text));
  }
  EXPECT_GE(Count(svg, "stroke-dasharray"), 2);  // the dashed series and its legend sample
  EXPECT_GE(Count(svg, "<polygon"), 1);          // the shaded band
  EXPECT_THAT(svg, HasSubstr("clip-path=\"url(#sample-plot)\""));
}

TEST(LineChartTest, NonFiniteValuesBreakTheLineInsteadOfBreakingTheFile) {
  viz::LineChart chart({.y = {.log = true}});
  chart.Add({.label = "gaps", .x = {1, 2, 3, 4, 5, 6}, .y = {1, 2, std::nan(""), 4, -1, 1e300}});
  const std::string svg = chart.ToSvg();
  EXPECT_TRUE(viz::CheckSvg(svg).ok()) << viz::CheckSvg(svg);
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
  EXPECT_THAT(svg, Not(HasSubstr("inf")));
}

TEST(BarChartTest, DrawsBarsErrorBarsAndSwatches) {
  viz::BarChart chart({.title = "epochs", .y = {.label = "epochs"}},
                      {"a rather long category name", "b", "c"});
  chart.Add({.label = "first", .values = {3, 4, 5}, .low = {2, 3, 4}, .high = {4, 5, 6}});
  chart.Add({.label = "second", .values = {1, std::nan(""), 2}});
  const std::string svg = chart.ToSvg("bars");
  EXPECT_TRUE(viz::CheckSvg(svg).ok()) << viz::CheckSvg(svg);
  // 5 bars (no bar for NaN), 2 legend swatches, the white background and the
  // clip rectangle.
  EXPECT_EQ(Count(svg, "<rect"), 9);
  EXPECT_THAT(svg, HasSubstr(">a rather long category name<"));
}

TEST(HistogramTest, SharesOfAllValues) {
  const std::vector<double> values = {0.1, 0.1, 0.6, 2.0};  // 2.0 is outside, still counted
  const viz::Series s = viz::HistogramSeries("h", values, 0, 1, 2);
  double top = 0;
  for (double y : s.y) top = std::max(top, y);
  EXPECT_DOUBLE_EQ(top, 0.5);
  EXPECT_EQ(s.y.front(), 0);
  EXPECT_EQ(s.y.back(), 0);
}

TEST(GridTest, PanelsGetTheirOwnClipPaths) {
  const viz::LineChart a = SampleChart();
  const viz::LineChart b = SampleChart();
  const std::vector<const viz::Chart*> charts = {&a, &b};
  const std::string svg = viz::RenderGrid(charts, 2, "two panels", "grid");
  EXPECT_TRUE(viz::CheckSvg(svg).ok()) << viz::CheckSvg(svg);
  EXPECT_THAT(svg, HasSubstr("id=\"grid-0-plot\""));
  EXPECT_THAT(svg, HasSubstr("id=\"grid-1-plot\""));
}

TEST(ActivationPlotTest, DrawsEveryRegisteredActivationWithDashedDerivatives) {
  std::vector<viz::ActivationCurve> curves;
  for (const OpDef* op : OpRegistry::Global().Activations()) {
    absl::StatusOr<viz::ActivationCurve> c = viz::SampleActivation(*op, {}, -5, 5);
    if (op->min_inputs != 1) {
      EXPECT_FALSE(c.ok()) << op->name;
      continue;
    }
    ASSERT_TRUE(c.ok()) << op->name << ": " << c.status();
    curves.push_back(*std::move(c));
  }
  ASSERT_GE(curves.size(), 5u);
  const std::string svg = viz::PlotActivations(curves, {});
  EXPECT_TRUE(viz::CheckSvg(svg).ok()) << viz::CheckSvg(svg);
  EXPECT_EQ(svg, viz::PlotActivations(curves, {}));
  for (const viz::ActivationCurve& c : curves) EXPECT_THAT(svg, HasSubstr(">" + c.label + "<"));
}

TEST(ActivationPlotTest, TheArticlesFiveInOneChartWithLegend) {
  std::vector<viz::ActivationCurve> curves;
  for (const OpDef* op :
       {&ops::kSigmoid, &ops::kTanh, &ops::kRelu, &ops::kLeakyRelu, &ops::kIdentity}) {
    curves.push_back(*viz::SampleActivation(*op, {}, -4, 4));
  }
  const std::string svg = viz::PlotActivations(curves, {});
  EXPECT_TRUE(viz::CheckSvg(svg).ok()) << viz::CheckSvg(svg);
  for (const char* name :
       {"sigmoid", "tanh", "relu", "leaky_relu", "identity", "function", "derivative"}) {
    EXPECT_THAT(svg, HasSubstr(absl::StrCat(">", name, "<")));
  }
  // Every derivative is dashed: at least one dashed polyline per function,
  // plus the legend's dashed sample.
  int dashed_polylines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos;
       at = svg.find("<polyline", at + 1)) {
    const std::string element = svg.substr(at, svg.find("/>", at) - at);
    dashed_polylines += absl::StrContains(element, "stroke-dasharray");
  }
  EXPECT_GE(dashed_polylines, 5);
  for (int color = 0; color < 5; ++color) {
    EXPECT_THAT(svg, HasSubstr(viz::PaletteColor(color)));
  }
}

TEST(ActivationPlotTest, ValuesFollowTheFormulasAndBreakAtKinks) {
  const viz::ActivationCurve relu = *viz::SampleActivation(ops::kRelu, {}, -1, 1, 21);
  ASSERT_EQ(relu.x.size(), relu.dy.size());
  int breaks = 0;
  for (size_t i = 0; i < relu.x.size(); ++i) {
    if (std::isnan(relu.dy[i])) {
      ++breaks;
      EXPECT_EQ(relu.x[i], 0);
      continue;
    }
    EXPECT_EQ(relu.y[i], std::max(0.0, relu.x[i]));
    EXPECT_EQ(relu.dy[i], relu.x[i] > 0 ? 1 : 0);
  }
  EXPECT_EQ(breaks, 1);
  const viz::ActivationCurve leaky = *viz::SampleActivation(ops::kLeakyRelu, {.alpha = 0.2}, -1, 1);
  EXPECT_EQ(leaky.label, "leaky_relu (alpha=0.2)");
}

TEST(ActivationPlotTest, AnOpWithoutFormulasIsDrawnThroughBackward) {
  OpDef tanh_without_formulas = ops::kTanh;
  tanh_without_formulas.name = "tanh_without_formulas";
  tanh_without_formulas.formulas = nullptr;
  const absl::StatusOr<viz::ActivationCurve> c =
      viz::SampleActivation(tanh_without_formulas, {}, -3, 3, 61);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->from_formulas);
  for (size_t i = 0; i < c->x.size(); ++i) {
    EXPECT_NEAR(c->y[i], std::tanh(c->x[i]), 1e-12);
    EXPECT_NEAR(c->dy[i], 1 - std::tanh(c->x[i]) * std::tanh(c->x[i]), 1e-12);
  }
}

TEST(ActivationPlotTest, RefusesWhatIsNotAnElementwiseActivation) {
  EXPECT_EQ(viz::SampleActivation(ops::kSoftmax, {}, -1, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(viz::SampleActivation(ops::kAdd, {}, -1, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(viz::SampleActivation(ops::kTanh, {}, 1, -1).ok());
  EXPECT_FALSE(viz::SampleActivation(ops::kTanh, {}, 0, std::nan("")).ok());
}

TEST(SvgCheckTest, CatchesBrokenDocuments) {
  const std::string good =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\" "
      "viewBox=\"0 0 10 10\">\n<rect x=\"0\" y=\"0\" width=\"1\" height=\"1\"/>\n</svg>\n";
  EXPECT_TRUE(viz::CheckSvg(good).ok()) << viz::CheckSvg(good);
  const std::string header =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\" "
      "viewBox=\"0 0 10 10\">";
  for (const std::string& bad : {
           header + "<rect x=\"0\"></svg>",                       // unclosed element
           header + "<rect x=0/></svg>",                          // unquoted attribute
           header + "<rect x=\"1\" x=\"2\"/></svg>",              // duplicate attribute
           header + "<rect x=\"nan\"/></svg>",                    // not a number
           header + "<text x=\"0\" y=\"0\">a & b</text></svg>",   // bare ampersand
           header + "<polyline points=\"1,2 3\"/></svg>",         // half a point
           header + "<rect clip-path=\"url(#nowhere)\"/></svg>",  // undeclared clip
           header + "<script/></svg>",                            // not ours
           std::string("<svg width=\"1\" height=\"1\" viewBox=\"0 0 1 1\"></svg>"),  // no xmlns
           header,                                                                   // never closed
       }) {
    EXPECT_FALSE(viz::CheckSvg(bad).ok()) << bad;
  }
}

TEST(ReportTest, HtmlIsSelfContainedWithFiguresInline) {
  viz::Report report("Results & more");
  report.Heading("linear-collapse (C13, C14)");
  report.Paragraph("Run `actgrad experiment` for **all** of it; see [the section](#summary).");
  report.Table({"name", "value"}, {{"a|b", "0.5 ± 0.1"}, {"c", "-3"}});
  report.AddFigure({"chart.svg", SampleChart().ToSvg("chart"), "A *chart*."});
  const std::string html = report.ToHtml();
  EXPECT_THAT(html, HasSubstr("<h2 id=\"linear-collapse-c13-c14\">"));
  EXPECT_THAT(html, HasSubstr("<code>actgrad experiment</code>"));
  EXPECT_THAT(html, HasSubstr("<strong>all</strong>"));
  EXPECT_THAT(html, HasSubstr("<a href=\"#summary\">the section</a>"));
  EXPECT_THAT(html, HasSubstr("<td class=\"num\">0.5 ± 0.1</td>"));
  EXPECT_THAT(html, HasSubstr("<svg xmlns"));
  EXPECT_THAT(html, HasSubstr("<title>Results &amp; more</title>"));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  // Nothing is fetched: the only URL is the SVG namespace, which names, not loads.
  EXPECT_EQ(Count(html, "http"), Count(html, "http://www.w3.org/2000/svg"));
  EXPECT_EQ(report.figures().size(), 1u);
}

TEST(ReportTest, MarkdownLinksFiguresAndEscapesTables) {
  viz::Report report("Results");
  report.Table({"name", "value"}, {{"a|b", "0.5"}});
  report.AddFigure({"chart.svg", "<svg/>", "A chart."});
  const std::string md = report.ToMarkdown("figures");
  EXPECT_THAT(md, HasSubstr("# Results\n"));
  EXPECT_THAT(md, HasSubstr("| a\\|b | 0.5 |"));
  EXPECT_THAT(md, HasSubstr("| --- | ---: |"));
  EXPECT_THAT(md, HasSubstr("](figures/chart.svg)"));
}

TEST(ReportTest, SlugsMatchGitHubAnchors) {
  EXPECT_EQ(viz::Slug("linear-collapse (C13, C14)"), "linear-collapse-c13-c14");
  EXPECT_EQ(viz::Slug("The functions (C1-C5)"), "the-functions-c1-c5");
}

}  // namespace
}  // namespace actgrad
