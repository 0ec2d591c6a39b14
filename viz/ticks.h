// -----------------------------------------------------------------------------
// File: ticks.h
// -----------------------------------------------------------------------------
//
// Where an axis puts its ticks and what it writes under them. Linear axes use
// "nice numbers" (Heckbert, Graphics Gems, 1990): steps of 1, 2 or 5 times a
// power of ten, with the range widened to the outer ticks, so that labels are
// short and read at a glance. Logarithmic axes tick at powers of ten (with
// 2 and 5 in between when the range is short). Labels carry exactly the
// decimals the step needs, so 0.1 + 0.2 is written "0.3".
//
// Example:
//
//   actgrad::viz::Ticks t = actgrad::viz::NiceTicks(-0.37, 4.2, 6);
//   // t.lo = -1, t.hi = 5, t.values = {-1, 0, 1, 2, 3, 4, 5}, t.labels = {"-1", "0", ...}
//   actgrad::viz::Ticks l = actgrad::viz::LogTicks(3e-5, 0.2);
//   // l.values = {1e-5, 1e-4, 1e-3, 0.01, 0.1, 1}, l.labels = {"1e-5", "1e-4", "0.001", ...}

#ifndef ACTGRAD_VIZ_TICKS_H_
#define ACTGRAD_VIZ_TICKS_H_

#include <string>
#include <vector>

namespace actgrad::viz {

struct Ticks {
  double lo = 0;  // the axis range, widened to include the outer ticks
  double hi = 1;
  std::vector<double> values;
  std::vector<std::string> labels;
};

// The nice number near `x` > 0: 1, 2, 5 or 10 times a power of ten; rounded
// to the nearest one when `round`, otherwise the smallest one >= x.
double NiceNumber(double x, bool round);

// About `count` nice ticks covering [lo, hi]. An empty or non-finite range is
// widened around its value first, so every input gives a usable axis.
Ticks NiceTicks(double lo, double hi, int count = 6);

// Ticks for a logarithmic axis covering [lo, hi]; both must be positive
// (a non-positive lo is replaced by hi / 1000).
Ticks LogTicks(double lo, double hi);

// `v` with the decimals a step of `step` needs: FormatTick(0.30000000000000004, 0.1) is "0.3".
std::string FormatTick(double v, double step);

}  // namespace actgrad::viz

#endif  // ACTGRAD_VIZ_TICKS_H_
