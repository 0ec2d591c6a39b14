// -----------------------------------------------------------------------------
// File: report.h
// -----------------------------------------------------------------------------
//
// A small document — headings, paragraphs, lists, tables, preformatted text
// and SVG figures — written twice: as one self-contained HTML page (figures
// inline, styles inline, no scripts and nothing fetched from elsewhere), and
// as Markdown whose figures are separate SVG files beside it, which is what
// a repository shows. Text may use four inline marks, the same in both
// outputs: `code`, **bold**, *italic* and [a link](#anchor-or-url). Headings get the
// anchors GitHub gives them, so a link to "#linear-collapse" works in both.
//
// Example:
//
//   actgrad::viz::Report report("Results");
//   report.Paragraph("Trained with `actgrad experiment all`.");
//   report.Table({"activation", "epochs"}, {{"tanh", "31"}, {"sigmoid", "80"}});
//   report.Figure("loss.svg", chart.ToSvg("loss"), "Training loss, mean of 5 seeds.");
//   std::string html = report.ToHtml();
//   std::string markdown = report.ToMarkdown("figures");  // ![...](figures/loss.svg)
//   for (const auto& figure : report.figures()) { /* write figure.svg */ }

#ifndef ACTGRAD_VIZ_REPORT_H_
#define ACTGRAD_VIZ_REPORT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace actgrad::viz {

// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as
// hyphens ("Linear collapse (C13, C14)" -> "linear-collapse-c13-c14").
std::string Slug(absl::string_view heading);

class Report {
 public:
  struct Figure {
    std::string file_name;  // e.g. "saturation-gradients.svg"; unique in a report
    std::string svg;
    std::string caption;
  };

  explicit Report(std::string title) : title_(std::move(title)) {}

  // Levels 2 to 4 (the title is level 1).
  void Heading(std::string text, int level = 2);
  void Paragraph(std::string text);
  void List(std::vector<std::string> items);
  // Cells that look like numbers are right-aligned in HTML.
  void Table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows);
  void Preformatted(std::string text);
  void AddFigure(Figure figure);

  std::string ToHtml() const;
  // Figures are linked as `figure_dir`/file_name (no directory when empty).
  std::string ToMarkdown(absl::string_view figure_dir) const;

  const std::vector<Figure>& figures() const { return figures_; }
  const std::string& title() const { return title_; }

 private:
  enum class Kind { kHeading, kParagraph, kList, kTable, kPreformatted, kFigure };
  struct Block {
    Kind kind;
    int level = 0;
    std::vector<std::string> texts;               // heading/paragraph/pre: one; list: items
    std::vector<std::vector<std::string>> table;  // header row first
    size_t figure = 0;                            // index into figures_
  };

  std::string title_;
  std::vector<Block> blocks_;
  std::vector<Figure> figures_;
};

}  // namespace actgrad::viz

#endif  // ACTGRAD_VIZ_REPORT_H_
