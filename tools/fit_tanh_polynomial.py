#!/usr/bin/python3
"""Fits the polynomial of the float tanh in ops/packet_math_float.h.

tanh x = x + x^3 P(x^2) on [0, 0.9], P of degree 5, with the coefficients
chosen to minimise the largest relative error of tanh (a least-squares fit
reweighted towards the minimax one), then rounded to float. Prints the
coefficients, lowest degree first, and the largest relative error of the
rounded polynomial in ulps of float (2^-24 relative), evaluated exactly.

  /usr/bin/python3 tools/fit_tanh_polynomial.py

Needs Debian's python3-numpy and python3-mpmath.
"""

import mpmath as mp
import numpy as np

BOUND = 0.9
DEGREE = 5
mp.mp.dps = 40


def main():
    count = 400
    xs = [BOUND * (1 - np.cos(np.pi * (k + 0.5) / count)) / 2 for k in range(count)]
    rows, rhs = [], []
    for x in xs:
        t = mp.tanh(mp.mpf(x))
        z = x * x
        rows.append([float(x**3 * z**j / t) for j in range(DEGREE + 1)])
        rhs.append(float((t - x) / t))
    a, b = np.array(rows), np.array(rhs)
    weights = np.ones(len(xs))
    for _ in range(200):
        coefficients, *_ = np.linalg.lstsq(a * weights[:, None], b * weights, rcond=None)
        error = np.abs(a @ coefficients - b)
        weights = weights * np.sqrt(error / error.max()) + 1e-12
        weights /= weights.max()
    rounded = [float(np.float32(c)) for c in coefficients]
    worst = 0.0
    for x in np.linspace(1e-4, BOUND, 20001):
        t = mp.tanh(mp.mpf(x))
        z = mp.mpf(x) ** 2
        p = sum(mp.mpf(c) * z**j for j, c in enumerate(rounded))
        worst = max(worst, abs(float((x + x**3 * p - t) / t)))
    print("coefficients:", ", ".join("%.9g" % c for c in rounded))
    print("largest relative error: %.3g (%.3f ulps of float)" % (worst, worst / 2**-24))


if __name__ == "__main__":
    main()
