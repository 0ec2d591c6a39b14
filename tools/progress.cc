#include "tools/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_format.h"

namespace actgrad::tools {

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
                         double accuracy) {
  const auto now = clock_();
  if (!interactive_ || (now - last_draw_ < kRedrawInterval && batch < batches)) return;
  last_draw_ = now;
  const double elapsed = Seconds(now - epoch_start_);
  const double total_elapsed = Seconds(now - start_);
  const double done = (epoch + double(batch) / batches) / epochs_;
  const double eta = done > 0 ? total_elapsed * (1 - done) / done : 0;
  const int filled = static_cast<int>(kBarWidth * double(batch) / batches);
  const std::string accuracy_text =
      accuracy >= 0 ? absl::StrFormat("  acc %.3f", accuracy) : std::string();
  std::string line = absl::StrFormat(
      "epoch %d/%d [%s%s] %d/%d  loss %.4f%s  %.0f samples/s  ETA %s", epoch + 1, epochs_,
      std::string(filled, '='), std::string(kBarWidth - filled, ' '), batch, batches, loss,
      accuracy_text, elapsed > 0 ? samples / elapsed : 0.0, MinutesSeconds(eta));
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

}  // namespace actgrad::tools
