// -----------------------------------------------------------------------------
// File: report.h
// -----------------------------------------------------------------------------
//
// The published results: experiment results laid out as one document — the
// article's functions drawn from the op registry, a summary of verdicts with
// links, then per experiment its setup, tables, figures, the checks behind
// its verdict and what the numbers mean. The document renders to the HTML
// page and Markdown twin that `actgrad experiment all --report DIR` writes.
//
// Example:
//
//   std::vector<Result> results = ...;  // from RunExperiment
//   viz::Report report = BuildReport(results, {.command = "actgrad experiment all --report docs"});
//   std::string markdown = report.ToMarkdown("figures");

#ifndef ACTGRAD_EXPERIMENTS_REPORT_H_
#define ACTGRAD_EXPERIMENTS_REPORT_H_

#include <span>
#include <string>

#include "experiments/experiment.h"
#include "viz/report.h"

namespace actgrad::experiments {

struct ReportContext {
  std::string command;  // how to regenerate the report
  std::string machine;  // where it ran, e.g. the BLAS kernel and thread count
};

viz::Report BuildReport(std::span<const Result> results, const ReportContext& context);

// A figure of the article's five functions (claims C1-C5) and their
// derivatives, drawn from their op rows.
Figure ActivationFigure();

}  // namespace actgrad::experiments

#endif  // ACTGRAD_EXPERIMENTS_REPORT_H_
