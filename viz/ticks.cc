#include "viz/ticks.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "viz/svg.h"

namespace actgrad::viz {

double NiceNumber(double x, bool round) {
  const double exponent = std::floor(std::log10(x));
  const double fraction = x / std::pow(10.0, exponent);
  double nice;
  if (round) {
    nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  } else {
    nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  }
  return nice * std::pow(10.0, exponent);
}

std::string FormatTick(double v, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  // Very large or small steps read better in exponent form.
  if (step >= 1e6 || step < 1e-4) return absl::StrFormat("%g", v);
  return FormatNumber(v, decimals);
}

Ticks NiceTicks(double lo, double hi, int count) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = hi = 0;
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  count = std::max(count, 2);
  const double step = NiceNumber((hi - lo) / (count - 1), true);
  Ticks t;
  t.lo = std::floor(lo / step + 1e-9) * step;
  t.hi = std::ceil(hi / step - 1e-9) * step;
  const int n = static_cast<int>(std::lround((t.hi - t.lo) / step));
  for (int i = 0; i <= n; ++i) {
    double v = t.lo + i * step;
    if (std::abs(v) < step * 1e-9) v = 0;  // no "-0" or 1e-17 in the middle
    t.values.push_back(v);
    t.labels.push_back(FormatTick(v, step));
  }
  return t;
}

namespace {

std::string FormatLogTick(double mantissa, int exponent) {
  if (exponent >= -3 && exponent <= 4) {
    return FormatNumber(mantissa * std::pow(10.0, exponent), std::max(0, -exponent));
  }
  return absl::StrFormat("%de%d", static_cast<int>(mantissa), exponent);
}

}  // namespace

Ticks LogTicks(double lo, double hi) {
  if (!(hi > 0) || !std::isfinite(hi)) hi = 1;
  if (!(lo > 0) || !std::isfinite(lo) || lo >= hi) lo = hi / 1000;
  const int first = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
  int last = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  if (last == first) ++last;
  const int decades = last - first;
  // Long ranges tick every few decades, short ones add 2 and 5 in between.
  const int every = decades > 16 ? 4 : decades > 8 ? 2 : 1;
  Ticks t;
  t.lo = std::pow(10.0, first);
  t.hi = std::pow(10.0, last);
  for (int e = first; e <= last; ++e) {
    if ((e - first) % every != 0 && e != last) continue;
    t.values.push_back(std::pow(10.0, e));
    t.labels.push_back(FormatLogTick(1, e));
    if (decades <= 2 && e != last) {
      for (int m : {2, 5}) {
        t.values.push_back(m * std::pow(10.0, e));
        t.labels.push_back(FormatLogTick(m, e));
      }
    }
  }
  return t;
}

}  // namespace actgrad::viz
