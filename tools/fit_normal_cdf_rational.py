#!/usr/bin/python3
"""Fits the rational function of gelu's float kernel in ops/formula_kernels.cc.

erfc(a) e^(a^2) = P(a) / Q(a) on [0, 11], P of degree 5 and Q of degree 6
with a leading 1, the coefficients chosen to minimise the largest relative
error: a linearised least-squares fit of P - f Q, reweighted each round
towards the minimax one (Lawson's iteration), on Chebyshev points, against
mpmath at 40 digits. Prints the coefficients, lowest degree first, and the
largest relative error of the rational function evaluated by Horner's rule
in double on a grid ten times as fine.

  /usr/bin/python3 tools/fit_normal_cdf_rational.py

Needs Debian's python3-numpy and python3-mpmath.
"""

import mpmath as mp
import numpy as np

BOUND = 11.0
P_DEGREE = 5
Q_DEGREE = 6
mp.mp.dps = 40


def scaled_erfc(a):
    return float(mp.erfc(mp.mpf(a)) * mp.exp(mp.mpf(a) ** 2))


def horner(coefficients, x):
    value = np.full_like(x, coefficients[-1])
    for c in coefficients[-2::-1]:
        value = value * x + c
    return value


def main():
    count = 3000
    xs = BOUND * (1 - np.cos(np.linspace(0, np.pi, count))) / 2
    f = np.array([scaled_erfc(x) for x in xs])
    # Unknowns: P's coefficients, then Q's above its constant term 1.
    columns = [xs**i for i in range(P_DEGREE + 1)]
    columns += [-f * xs**j for j in range(1, Q_DEGREE + 1)]
    matrix = np.array(columns).T
    weights, q_values = np.ones(count), np.ones(count)
    best = None
    for _ in range(120):
        scale = weights / (f * np.abs(q_values))
        scaled = matrix * scale[:, None]
        norms = np.linalg.norm(scaled, axis=0)
        solution, *_ = np.linalg.lstsq(scaled / norms, f * scale, rcond=None)
        solution /= norms
        p = solution[: P_DEGREE + 1]
        q = np.concatenate([[1.0], solution[P_DEGREE + 1 :]])
        q_values = horner(q, xs)
        error = horner(p, xs) / q_values / f - 1
        worst = np.max(np.abs(error))
        if best is None or worst < best[0]:
            best = (worst, p / q[-1], q / q[-1])
        weights = weights * np.sqrt(np.abs(error) / worst) + 1e-12
        weights /= weights.max()
    _, p, q = best
    for name, coefficients in (("P", p), ("Q", q)):
        for i, c in enumerate(coefficients):
            print(f"{name}{i} = {c:.17g}")
    fine = np.linspace(0, BOUND, 10 * count)
    exact = np.array([scaled_erfc(x) for x in fine])
    worst = np.max(np.abs(horner(p, fine) / horner(q, fine) / exact - 1))
    print(f"largest relative error on [0, {BOUND:g}]: {worst:.3e}")


if __name__ == "__main__":
    main()
