#include "graph/generator.h"

#include <cmath>
#include <cstdlib>
#include <numbers>
#include <sstream>

namespace actgrad {

double Generator::NextNormal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  double u1 = NextUniform();
  while (u1 <= 0.0) u1 = NextUniform();
  const double u2 = NextUniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  spare_normal_ = radius * std::sin(angle);
  has_spare_normal_ = true;
  return radius * std::cos(angle);
}

std::string Generator::SaveState() const {
  std::ostringstream out;
  out.precision(17);
  out << engine_ << ' ' << has_spare_normal_ << ' ' << std::hexfloat << spare_normal_;
  return out.str();
}

bool Generator::RestoreState(const std::string& text) {
  std::istringstream in(text);
  std::mt19937_64 engine;
  bool has_spare = false;
  double spare = 0;
  std::string spare_text;
  if (!(in >> engine >> has_spare >> spare_text)) return false;
  // Hexadecimal floats do not read back through operator>> in libstdc++.
  spare = std::strtod(spare_text.c_str(), nullptr);
  engine_ = engine;
  has_spare_normal_ = has_spare;
  spare_normal_ = spare;
  return true;
}

uint64_t Generator::NextBelow(uint64_t n) {
  // Rejection keeps the result unbiased for any n.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t r = engine_();
  while (r >= limit) r = engine_();
  return r % n;
}

}  // namespace actgrad
