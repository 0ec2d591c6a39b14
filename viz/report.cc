#include "viz/report.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "viz/svg.h"

namespace actgrad::viz {

namespace {

// The page's whole style: readable measure, quiet tables, figures that
// shrink with the window.
constexpr absl::string_view kStyle = R"(
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; margin: 0; }
main { max-width: 980px; margin: 0 auto; padding: 24px; line-height: 1.5; }
h1, h2, h3 { line-height: 1.25; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 2em; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 90%; }
code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
pre { background: #f6f6f6; padding: 10px; overflow-x: auto; }
table { border-collapse: collapse; margin: 12px 0; font-size: 92%; }
th, td { border: 1px solid #d8d8d8; padding: 4px 8px; text-align: left; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 16px 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 90%; color: #555; }
)";

// "0.93 ± 0.01 [0.92, 0.95]", "97.1 %", "-3.2e-05", "1.2e-07 / 0.003": a
// number, maybe with its spread, and no words.
bool LooksNumeric(absl::string_view cell) {
  cell = absl::StripAsciiWhitespace(cell);
  if (cell.empty()) return false;
  const char c = cell[0];
  const bool starts_like_a_number = absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
                                    ((c == '-' || c == '+' || c == '.') && cell.size() > 1 &&
                                     absl::ascii_isdigit(static_cast<unsigned char>(cell[1])));
  if (!starts_like_a_number) return false;
  for (size_t i = 0; i < cell.size(); ++i) {
    const unsigned char u = static_cast<unsigned char>(cell[i]);
    // Letters other than an exponent's "e" make it text ("64-32, SGD").
    if (absl::ascii_isalpha(u) &&
        !(u == 'e' && i > 0 && absl::ascii_isdigit(static_cast<unsigned char>(cell[i - 1])))) {
      return false;
    }
  }
  return true;
}

// Inline marks to HTML: `code`, **bold**, *italic*, [text](target); the rest
// escaped.
std::string InlineHtml(absl::string_view text) {
  std::string out;
  size_t i = 0;
  bool bold = false;
  bool italic = false;
  while (i < text.size()) {
    if (text[i] == '`') {
      const size_t end = text.find('`', i + 1);
      if (end != absl::string_view::npos) {
        absl::StrAppend(&out, "<code>", EscapeXml(text.substr(i + 1, end - i - 1)), "</code>");
        i = end + 1;
        continue;
      }
    }
    if (text.substr(i, 2) == "**") {
      out += bold ? "</strong>" : "<strong>";
      bold = !bold;
      i += 2;
      continue;
    }
    if (text[i] == '*') {
      out += italic ? "</em>" : "<em>";
      italic = !italic;
      ++i;
      continue;
    }
    if (text[i] == '[') {
      const size_t close = text.find("](", i);
      const size_t end = close == absl::string_view::npos ? close : text.find(')', close);
      if (end != absl::string_view::npos) {
        absl::StrAppend(&out, "<a href=\"", EscapeXml(text.substr(close + 2, end - close - 2)),
                        "\">", InlineHtml(text.substr(i + 1, close - i - 1)), "</a>");
        i = end + 1;
        continue;
      }
    }
    out += EscapeXml(text.substr(i, 1));
    ++i;
  }
  if (italic) out += "</em>";
  if (bold) out += "</strong>";
  return out;
}

std::string MarkdownCell(absl::string_view cell) {
  return absl::StrReplaceAll(cell, {{"|", "\\|"}, {"\n", " "}});
}

// An image's alt text is plain text: the marks that would end or style it go.
std::string AltText(absl::string_view caption) {
  std::string out;
  for (char c : caption) {
    if (c != '[' && c != ']' && c != '*' && c != '`' && c != '\n') out += c;
  }
  return out;
}

}  // namespace

std::string Slug(absl::string_view heading) {
  std::string out;
  for (char c : heading) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '-' || c == '_' || u >= 0x80) {
      out += absl::ascii_tolower(u);
    } else if (c == ' ') {
      out += '-';
    }
  }
  return out;
}

void Report::Heading(std::string text, int level) {
  blocks_.push_back(
      {.kind = Kind::kHeading, .level = std::clamp(level, 2, 4), .texts = {std::move(text)}});
}

void Report::Paragraph(std::string text) {
  blocks_.push_back({.kind = Kind::kParagraph, .texts = {std::move(text)}});
}

void Report::List(std::vector<std::string> items) {
  blocks_.push_back({.kind = Kind::kList, .texts = std::move(items)});
}

void Report::Table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows) {
  Block b{.kind = Kind::kTable};
  b.table.push_back(std::move(header));
  for (auto& row : rows) b.table.push_back(std::move(row));
  blocks_.push_back(std::move(b));
}

void Report::Preformatted(std::string text) {
  blocks_.push_back({.kind = Kind::kPreformatted, .texts = {std::move(text)}});
}

void Report::AddFigure(Figure figure) {
  figures_.push_back(std::move(figure));
  blocks_.push_back({.kind = Kind::kFigure, .figure = figures_.size() - 1});
}

std::string Report::ToHtml() const {
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
      EscapeXml(title_), "</title>\n<style>", kStyle, "</style>\n</head>\n<body>\n<main>\n<h1>",
      InlineHtml(title_), "</h1>\n");
  for (const Block& b : blocks_) {
    switch (b.kind) {
      case Kind::kHeading:
        absl::StrAppend(&out, "<h", b.level, " id=\"", Slug(b.texts[0]), "\">",
                        InlineHtml(b.texts[0]), "</h", b.level, ">\n");
        break;
      case Kind::kParagraph:
        absl::StrAppend(&out, "<p>", InlineHtml(b.texts[0]), "</p>\n");
        break;
      case Kind::kList:
        out += "<ul>\n";
        for (const std::string& item : b.texts) {
          absl::StrAppend(&out, "<li>", InlineHtml(item), "</li>\n");
        }
        out += "</ul>\n";
        break;
      case Kind::kTable:
        out += "<table>\n<thead><tr>";
        for (const std::string& h : b.table[0])
          absl::StrAppend(&out, "<th>", InlineHtml(h), "</th>");
        out += "</tr></thead>\n<tbody>\n";
        for (size_t r = 1; r < b.table.size(); ++r) {
          out += "<tr>";
          for (const std::string& cell : b.table[r]) {
            absl::StrAppend(&out, LooksNumeric(cell) ? "<td class=\"num\">" : "<td>",
                            InlineHtml(cell), "</td>");
          }
          out += "</tr>\n";
        }
        out += "</tbody>\n</table>\n";
        break;
      case Kind::kPreformatted:
        absl::StrAppend(&out, "<pre>", EscapeXml(b.texts[0]), "</pre>\n");
        break;
      case Kind::kFigure: {
        const Figure& f = figures_[b.figure];
        absl::StrAppend(&out, "<figure>\n", f.svg, "<figcaption>", InlineHtml(f.caption),
                        "</figcaption>\n</figure>\n");
        break;
      }
    }
  }
  out += "</main>\n</body>\n</html>\n";
  return out;
}

std::string Report::ToMarkdown(absl::string_view figure_dir) const {
  std::string out = absl::StrCat("# ", title_, "\n");
  for (const Block& b : blocks_) {
    out += "\n";
    switch (b.kind) {
      case Kind::kHeading:
        absl::StrAppend(&out, std::string(b.level, '#'), " ", b.texts[0], "\n");
        break;
      case Kind::kParagraph:
        absl::StrAppend(&out, b.texts[0], "\n");
        break;
      case Kind::kList:
        for (const std::string& item : b.texts) absl::StrAppend(&out, "- ", item, "\n");
        break;
      case Kind::kTable: {
        const size_t columns = b.table[0].size();
        for (size_t r = 0; r < b.table.size(); ++r) {
          std::vector<std::string> cells;
          for (size_t c = 0; c < columns; ++c) {
            cells.push_back(c < b.table[r].size() ? MarkdownCell(b.table[r][c]) : "");
          }
          absl::StrAppend(&out, "| ", absl::StrJoin(cells, " | "), " |\n");
          if (r == 0) {
            std::vector<std::string> rule(columns, "---");
            // A column of mostly numbers is right-aligned, as they are in the HTML.
            for (size_t c = 0; c < columns; ++c) {
              size_t numbers = 0;
              for (size_t row = 1; row < b.table.size(); ++row) {
                numbers += c < b.table[row].size() && LooksNumeric(b.table[row][c]);
              }
              if (b.table.size() > 1 && 2 * numbers > b.table.size() - 1) rule[c] = "---:";
            }
            absl::StrAppend(&out, "| ", absl::StrJoin(rule, " | "), " |\n");
          }
        }
        break;
      }
      case Kind::kPreformatted:
        absl::StrAppend(&out, "```\n", b.texts[0],
                        b.texts[0].empty() || b.texts[0].back() != '\n' ? "\n" : "", "```\n");
        break;
      case Kind::kFigure: {
        const Figure& f = figures_[b.figure];
        const std::string path =
            figure_dir.empty() ? f.file_name : absl::StrCat(figure_dir, "/", f.file_name);
        absl::StrAppend(&out, "![", AltText(f.caption), "](", path, ")\n\n*", f.caption, "*\n");
        break;
      }
    }
  }
  return out;
}

}  // namespace actgrad::viz
