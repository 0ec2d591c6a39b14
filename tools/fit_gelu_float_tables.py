#!/usr/bin/python3
"""Fits the tables of gelu's single-precision path in ops/gelu_float.cc.

For t = |x| in [0, 4), cut into 16 intervals a quarter wide, four functions
of t are tabulated as polynomials in u = t - c (c the interval's centre,
|u| <= 1/8), each coefficient rounded to float:

  R(t) = e^(t^2/2) Phi(-t), so that Phi(-t) = e^(-t^2/2) R(t);
  Phi(t), for x = t >= 0;
  Q(t) = (R(t) - t / sqrt(2 pi)) / (t - t0), t0 the one zero of the
         numerator, so that gelu'(-t) = e^(-t^2/2) (t - t0) Q(t) keeps its
         relative precision where it crosses zero;
  gelu'(t) = Phi(t) + t phi(t), for x = t >= 0.

Each is fitted for the smallest largest relative error (a least-squares fit
reweighted towards the minimax one) against mpmath at 40 digits. Also fits
e^r on |r| <= ln 2 / 2 (degree 7, 1 + r + ...). Prints the tables as C++
initializers and the largest relative error of each with its coefficients
rounded to float (the constant terms as two floats), evaluated exactly.

  /usr/bin/python3 tools/fit_gelu_float_tables.py

Needs Debian's python3-numpy and python3-mpmath.
"""

import mpmath as mp
import numpy as np

mp.mp.dps = 40
INTERVALS = 16
WIDTH = 0.25
DEGREE = 6
SQRT_2PI = mp.sqrt(2 * mp.pi)


def r_of(t):
    return mp.exp(t * t / 2) * mp.erfc(t / mp.sqrt(2)) / 2


T0 = mp.findroot(lambda t: r_of(t) - t / SQRT_2PI, 0.75)


def phi_of(t):
    return mp.erfc(-t / mp.sqrt(2)) / 2


def slope_of(t):
    return phi_of(t) + t * mp.exp(-t * t / 2) / SQRT_2PI


def q_of(t):
    if abs(t - T0) < mp.mpf("1e-25"):
        return mp.diff(lambda s: r_of(s) - s / SQRT_2PI, T0)
    return (r_of(t) - t / SQRT_2PI) / (t - T0)


def fit_relative(fn, centre, half_width, degree, fixed=()):
    """Coefficients of a polynomial in u on [-h, h], in double."""
    us = np.cos(np.linspace(0, np.pi, 240)) * half_width
    f = np.array([float(fn(mp.mpf(centre) + mp.mpf(u))) for u in us])
    fixed_part = sum(c * us**i for i, c in enumerate(fixed))
    columns = np.vander(us, degree + 1, increasing=True)[:, len(fixed) :]
    weights = 1 / np.abs(f)
    for _ in range(40):
        solution, *_ = np.linalg.lstsq(
            columns * weights[:, None], (f - fixed_part) * weights, rcond=None
        )
        error = np.abs((columns @ solution + fixed_part - f) / f)
        weights = weights * np.sqrt(error / error.max()) + 1e-12 * weights.max()
    return list(fixed) + list(solution)


def worst_relative(fn, coefficients, centre, half_width):
    worst = 0.0
    for u in np.linspace(-half_width, half_width, 301):
        exact = fn(mp.mpf(centre) + mp.mpf(u))
        value = sum(mp.mpf(c) * mp.mpf(u) ** i for i, c in enumerate(coefficients))
        worst = max(worst, float(abs(value / exact - 1)))
    return worst


def table(name, fn):
    """Row 0: the constant term rounded to float; row 1: what that left;
    row 1 + d: the coefficient of u^d."""
    rows, worst = [], 0.0
    for i in range(INTERVALS):
        centre = (i + 0.5) * WIDTH
        coefficients = fit_relative(fn, centre, WIDTH / 2, DEGREE)
        high = float(np.float32(coefficients[0]))
        low = float(np.float32(coefficients[0] - high))
        rounded = [float(np.float32(c)) for c in coefficients[1:]]
        exact = [mp.mpf(high) + mp.mpf(low)] + rounded
        worst = max(worst, worst_relative(fn, exact, centre, WIDTH / 2))
        rows.append([high, low] + rounded)
    print(f"// {name}: largest relative error {worst:.2e} (2^{np.log2(worst):.1f})")
    print(f"constexpr float k{name}[{DEGREE + 2}][{INTERVALS}] = {{")
    for d in range(DEGREE + 2):
        values = ", ".join(f"{np.float32(rows[i][d]).item()!r}f" for i in range(INTERVALS))
        print(f"    {{{values}}},")
    print("};")


def main():
    # t0's high part has 12 bits after the point, so that t - t0 high is
    # exact for every float t in [1/4, 4).
    hi = np.float32(round(float(T0) * 4096) / 4096)
    lo = np.float32(float(T0 - mp.mpf(float(hi))))
    print(f"// t0 = {mp.nstr(T0, 20)} = {hi.item()!r}f + {lo.item()!r}f")
    table("PhiScaled", r_of)
    table("Phi", phi_of)
    table("SlopeOverZero", q_of)
    table("Slope", slope_of)
    half = float(mp.log(2) / 2) + 1e-6
    exp_coefficients = [
        float(np.float32(c)) for c in fit_relative(mp.exp, 0.0, half, 7, fixed=(1.0, 1.0))
    ]
    worst = worst_relative(mp.exp, exp_coefficients, 0.0, half)
    print(f"// e^r: largest relative error {worst:.2e} (2^{np.log2(worst):.1f})")
    print("constexpr float kExp[8] = {" + ", ".join(f"{c!r}f" for c in exp_coefficients) + "};")


if __name__ == "__main__":
    main()
