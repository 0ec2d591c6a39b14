#include "nn/progress_bar.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "nn/metrics.h"

namespace actgrad::nn {

namespace {

constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr int kBarWidth = 24;

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string MinutesSeconds(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  return absl::StrFormat("%02d:%02d", s / 60, s % 60);
}

}  // namespace

ProgressBar::ProgressBar(std::ostream& out, bool interactive, int epochs, Clock clock)
    : out_(out), interactive_(interactive), epochs_(epochs), clock_(std::move(clock)) {
  start_ = epoch_start_ = last_draw_ = clock_();
}

bool ProgressBar::StderrIsInteractive() {
  const char* term = std::getenv("TERM");
  return isatty(fileno(stderr)) && (term == nullptr || std::strcmp(term, "dumb") != 0);
}

void ProgressBar::Update(int epoch, int batch, int batches, int64_t samples, double loss,
                         std::optional<double> metric, const std::string& metric_name) {
  const auto now = clock_();
  if (!interactive_ || (now - last_draw_ < kRedrawInterval && batch < batches)) return;
  last_draw_ = now;
  const double elapsed = Seconds(now - epoch_start_);
  const double total_elapsed = Seconds(now - start_);
  const double done = (epoch + double(batch) / batches) / epochs_;
  const double eta = done > 0 ? total_elapsed * (1 - done) / done : 0;
  const int filled = static_cast<int>(kBarWidth * double(batch) / batches);
  const std::string metric_text =
      metric.has_value() ? absl::StrFormat("  %s %.3f", metric_name, *metric) : std::string();
  std::string line = absl::StrFormat(
      "epoch %d/%d [%s%s] %d/%d  loss %.4f%s  %.0f samples/s  ETA %s", epoch + 1, epochs_,
      std::string(filled, '='), std::string(kBarWidth - filled, ' '), batch, batches, loss,
      metric_text, elapsed > 0 ? samples / elapsed : 0.0, MinutesSeconds(eta));
  const size_t width = line.size();
  if (width < drawn_width_) line.append(drawn_width_ - width, ' ');
  drawn_width_ = width;
  out_ << '\r' << line << std::flush;
}

void ProgressBar::EndEpoch(int epoch, const std::string& summary) {
  const auto now = clock_();
  std::string line = absl::StrFormat("epoch %d/%d  %s  (%.3f s)", epoch + 1, epochs_, summary,
                                     Seconds(now - epoch_start_));
  if (interactive_) {
    if (line.size() < drawn_width_) line.append(drawn_width_ - line.size(), ' ');
    out_ << '\r';
  }
  out_ << line << '\n' << std::flush;
  drawn_width_ = 0;
  epoch_start_ = now;
}

void ProgressBar::AttachTo(TrainOptions& options) {
  std::vector<std::string> names;
  for (const Metric& m : options.metrics) names.push_back(m.name);
  options.on_batch = [this, names, then = std::move(options.on_batch)](const BatchProgress& p) {
    if (names.empty()) {
      Update(p.epoch, p.batch, p.batches, p.samples, p.loss);
    } else {
      Update(p.epoch, p.batch, p.batches, p.samples, p.loss, p.metrics[0], names[0]);
    }
    if (then) then(p);
  };
  options.on_epoch = [this, names, then = std::move(options.on_epoch)](const EpochReport& r) {
    std::string line = absl::StrFormat("loss %.4f", r.train_loss);
    for (const auto& [prefix, scores] : {std::pair{"val", &r.validation}, {"test", &r.test}}) {
      if (!scores->has_value()) continue;
      absl::StrAppendFormat(&line, "  %s_loss %.4f", prefix, (*scores)->loss);
      for (size_t m = 0; m < names.size(); ++m) {
        absl::StrAppendFormat(&line, "  %s_%s %.4f", prefix, names[m], (*scores)->metrics[m]);
      }
    }
    absl::StrAppendFormat(&line, "  lr %.3g%s", r.learning_rate, r.best ? "  best" : "");
    EndEpoch(r.epoch, line);
    if (then) then(r);
  };
}

}  // namespace actgrad::nn
