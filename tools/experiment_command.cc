#include "tools/experiment_command.h"

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "experiments/experiment.h"
#include "experiments/report.h"
#include "io/file.h"
#include "io/json.h"
#include "ops/gemm.h"
#include "ops/threads.h"
#include "tools/output_paths.h"

namespace actgrad::tools {

namespace {

struct ExperimentFlags {
  std::string name;
  bool list = false;
  std::string report;
  std::string figures = "experiment-figures";
  bool json = false;
  uint64_t seed = 0;
  int repeats = 0;
  int max_repeats = 0;
  int threads = 0;
  bool reduced = false;
  std::string data_dir;
  bool follow_symlinks = false;
};

absl::Status MakeDirectory(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot create the directory: ", error.message()));
  }
  return absl::OkStatus();
}

absl::Status WriteText(const std::string& path, absl::string_view text) {
  const absl::string_view pieces[] = {text};
  return io::WriteFileAtomically(path, pieces);
}

// Width on a terminal: one column per UTF-8 code point ("±" is one).
size_t Columns(absl::string_view text) {
  size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string Pad(const std::string& text, size_t width) {
  return text + std::string(width > Columns(text) ? width - Columns(text) : 0, ' ');
}

void PrintTable(std::ostream& out, const experiments::Table& table) {
  out << table.caption << "\n";
  std::vector<size_t> widths(table.header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], Columns(row[c]));
    }
  };
  measure(table.header);
  for (const auto& row : table.rows) measure(row);
  auto print = [&](const std::vector<std::string>& row) {
    std::string line = "  ";
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      line += c + 1 == row.size() ? row[c] : Pad(row[c], widths[c] + 2);
    }
    out << line << "\n";
  };
  print(table.header);
  for (const auto& row : table.rows) print(row);
}

void PrintResult(std::ostream& out, const experiments::Result& r,
                 const std::vector<std::string>& figure_paths) {
  out << "setup\n";
  for (const std::string& line : r.setup) out << "  " << line << "\n";
  for (const experiments::Table& t : r.tables) {
    out << "\n";
    PrintTable(out, t);
  }
  out << "\nchecks (estimate [95 % bootstrap interval] against the claim's threshold)\n";
  for (const experiments::Check& c : r.checks) {
    out << absl::StrFormat("  %-14s %-4s %s\n  %14s      %s\n",
                           absl::StrCat("[", experiments::OutcomeName(c.outcome), "]"), c.claim,
                           c.statement, "", experiments::CheckLine(c));
  }
  if (!r.discussion.empty()) out << "\n" << r.discussion << "\n";
  out << "\nfigures: " << absl::StrJoin(figure_paths, ", ") << "\n";
  out << absl::StrFormat("verdict: %s (%s), %d seeds (rounds %s), %.1f s\n",
                         experiments::VerdictName(r.verdict), r.claims, r.seeds,
                         absl::StrJoin(r.seed_rounds, ", "), r.seconds);
}

void WriteResultJson(io::JsonWriter& out, const experiments::Result& r,
                     const std::vector<std::string>& figures) {
  auto strings = [&out](const std::vector<std::string>& list) {
    out.BeginArray();
    for (const std::string& s : list) out.String(s);
    out.EndArray();
  };
  out.BeginObject()
      .Key("name")
      .String(r.name)
      .Key("claims")
      .String(r.claims)
      .Key("title")
      .String(r.title)
      .Key("verdict")
      .String(experiments::VerdictName(r.verdict))
      .Key("seconds")
      .Number(r.seconds)
      .Key("seeds")
      .Number(r.seeds)
      .Key("setup");
  strings(r.setup);
  out.Key("checks").BeginArray();
  for (const experiments::Check& c : r.checks) {
    out.BeginObject()
        .Key("claim")
        .String(c.claim)
        .Key("statement")
        .String(c.statement)
        .Key("quantity")
        .String(c.quantity)
        .Key("estimate")
        .Number(c.value.estimate)
        .Key("low")
        .Number(c.value.low)
        .Key("high")
        .Number(c.value.high)
        .Key("side")
        .String(c.side == experiments::Side::kAtMost ? "at most" : "at least")
        .Key("threshold")
        .Number(c.threshold)
        .Key("outcome")
        .String(experiments::OutcomeName(c.outcome))
        .Key("evidence")
        .String(c.evidence)
        .EndObject();
  }
  out.EndArray().Key("metrics").BeginObject();
  for (const experiments::Metric& m : r.metrics) out.Key(m.name).Number(m.value);
  out.EndObject().Key("tables").BeginArray();
  for (const experiments::Table& t : r.tables) {
    out.BeginObject().Key("caption").String(t.caption).Key("header");
    strings(t.header);
    out.Key("rows").BeginArray();
    for (const std::vector<std::string>& row : t.rows) strings(row);
    out.EndArray().EndObject();
  }
  out.EndArray().Key("figures");
  strings(figures);
  out.EndObject();
}

int Run(const ExperimentFlags& given) {
  ExperimentFlags flags = given;
  if (flags.list || flags.name.empty()) {
    for (const experiments::Experiment& e : experiments::AllExperiments()) {
      std::cout << absl::StrFormat("%-24s %-14s %s\n", e.name, e.claims, e.measures);
    }
    if (flags.name.empty() && !flags.list) {
      std::cerr << "actgrad experiment: name an experiment above, or all\n";
      return 2;
    }
    return 0;
  }
  std::vector<const experiments::Experiment*> chosen;
  if (flags.name == "all") {
    for (const experiments::Experiment& e : experiments::AllExperiments()) chosen.push_back(&e);
  } else {
    absl::StatusOr<const experiments::Experiment*> e = experiments::FindExperiment(flags.name);
    if (!e.ok()) {
      std::cerr << "actgrad experiment: " << e.status().message() << "\n";
      return 2;
    }
    chosen.push_back(*e);
  }

  // The report's directory holds the figures; without one, --figures does.
  if (!CheckOutputs(
          "actgrad experiment",
          {flags.report.empty() ? PlannedOutput{"--figures", &flags.figures, /*directory=*/true}
                                : PlannedOutput{"--report", &flags.report, /*directory=*/true}},
          {}, flags.follow_symlinks)) {
    return 2;
  }
  // Seeds run in parallel, each training run on one thread: small products
  // gain nothing from more, and one thread per run keeps its bits the same.
  SetNumThreads(1);
  const std::string figure_dir =
      flags.report.empty() ? flags.figures : absl::StrCat(flags.report, "/figures");
  if (absl::Status s = MakeDirectory(figure_dir); !s.ok()) {
    std::cerr << "actgrad experiment: " << s.message() << "\n";
    return 1;
  }
  const experiments::Options options{.seed = flags.seed,
                                     .repeats = flags.repeats,
                                     .max_repeats = flags.max_repeats,
                                     .threads = flags.threads,
                                     .reduced = flags.reduced,
                                     .data_dir = flags.data_dir};
  std::ostream& log = flags.json ? std::cerr : std::cout;
  std::vector<experiments::Result> results;
  io::JsonWriter json;
  json.BeginObject().Key("experiments").BeginArray();
  for (const experiments::Experiment* e : chosen) {
    log << "== " << e->name << " (" << e->claims << "): " << e->measures << "\n" << std::flush;
    absl::StatusOr<experiments::Result> r = experiments::RunExperiment(*e, options);
    if (!r.ok()) {
      std::cerr << "actgrad experiment " << e->name << ": " << r.status().message() << "\n";
      return 1;
    }
    std::vector<std::string> paths;
    for (const experiments::Figure& f : r->figures) {
      paths.push_back(absl::StrCat(figure_dir, "/", f.name, ".svg"));
      if (absl::Status s = WriteText(paths.back(), f.svg); !s.ok()) {
        std::cerr << "actgrad experiment: " << s.message() << "\n";
        return 1;
      }
    }
    if (flags.json) {
      WriteResultJson(json, *r, paths);
    } else {
      PrintResult(std::cout, *r, paths);
      std::cout << "\n" << std::flush;
    }
    results.push_back(*std::move(r));
  }

  if (!flags.report.empty()) {
    std::string command =
        absl::StrCat("actgrad experiment ", flags.name, " --report ", flags.report);
    if (flags.seed != 0) absl::StrAppend(&command, " --seed ", flags.seed);
    if (flags.repeats != 0) absl::StrAppend(&command, " --repeats ", flags.repeats);
    if (flags.max_repeats != 0) absl::StrAppend(&command, " --max-repeats ", flags.max_repeats);
    if (flags.reduced) command += " --reduced";
    const viz::Report report = experiments::BuildReport(
        results,
        {.command = command,
         .machine = absl::StrCat(GemmLibraryName(), " for float32 products; ",
                                 results.empty() ? 1 : results[0].threads,
                                 " training runs at a time, each on ", NumThreads(), " thread")});
    for (const viz::Report::Figure& f : report.figures()) {
      if (absl::Status s = WriteText(absl::StrCat(figure_dir, "/", f.file_name), f.svg); !s.ok()) {
        std::cerr << "actgrad experiment: " << s.message() << "\n";
        return 1;
      }
    }
    const std::string html = absl::StrCat(flags.report, "/results.html");
    const std::string markdown = absl::StrCat(flags.report, "/results.md");
    for (const auto& [path, text] :
         {std::pair{html, report.ToHtml()}, std::pair{markdown, report.ToMarkdown("figures")}}) {
      if (absl::Status s = WriteText(path, text); !s.ok()) {
        std::cerr << "actgrad experiment: " << s.message() << "\n";
        return 1;
      }
    }
    log << "report: " << html << ", " << markdown << " (figures in " << figure_dir << ")\n";
  }
  if (flags.json) {
    json.EndArray().EndObject();
    std::cout << json.str() << "\n";
  }
  return 0;
}

}  // namespace

void AddExperimentCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ExperimentFlags>();
  CLI::App* sub = app.add_subcommand(
      "experiment", "Test the article's claims: run an experiment (or all), print its verdict");
  sub->add_option("name", flags->name, "An experiment (see --list), or all");
  sub->add_flag("--list", flags->list, "List the experiments and the claims they test");
  sub->add_option("--report", flags->report,
                  "Write DIR/results.html, DIR/results.md and DIR/figures/*.svg");
  sub->add_option("--figures", flags->figures, "Where figures go without --report")
      ->capture_default_str();
  sub->add_flag("--json", flags->json, "Print the results as one JSON object on stdout");
  sub->add_flag("--follow-symlinks", flags->follow_symlinks,
                "Write into --report or --figures through a symbolic link");
  sub->add_option("--seed", flags->seed, "Base seed; repeat i uses seed + i")
      ->capture_default_str();
  sub->add_option("--repeats", flags->repeats,
                  "Seeds per configuration, fixed (default: 10, more while a check is "
                  "inconclusive)")
      ->check(CLI::Range(1, 100));
  sub->add_option("--max-repeats", flags->max_repeats,
                  "The most seeds to add while a check is inconclusive (default: 30)")
      ->check(CLI::Range(1, 100));
  sub->add_option("--threads", flags->threads,
                  "Training runs at once (default: the hardware's threads); results do not "
                  "depend on it")
      ->check(CLI::Range(1, 256));
  sub->add_flag("--reduced", flags->reduced, "Smaller data and fewer epochs (seconds)");
  sub->add_option("--data-dir", flags->data_dir,
                  "Where breast_cancer.csv and digits.csv are (default: the bundled data/)");
  sub->callback([flags, exit_code] { *exit_code = Run(*flags); });
}

}  // namespace actgrad::tools
