#!/usr/bin/env python3
"""Tables from bench/dist_compare's JSON lines, and a model of bigger jobs.

--table prints the measured runs: per (scaling, ranks, mode) the median step
time over the runs with [min-max], samples/s, exposed communication and the
hidden fraction. It then models 8-64 nodes: a synchronous data-parallel step
costs the compute of one node plus the part of the gradient allreduce the
backward pass does not hide. The allreduce is a ring:

    T_comm(N) = 2 (N-1) alpha + 2 (N-1)/N * M / beta

with M the gradient bytes per step, alpha the per-message latency and beta
the link bandwidth. The backward pass can hide communication only while it
still has work after the first bucket is full: the window is the backward
time times the share of backward FLOPs left then (W3: the second layer's
input gradient and the first layer's weight gradient). Within the window,
only the share h measured here (2 ranks, weak scaling) is hidden: MPI moves
a non-blocking allreduce along only when it is called, and the long GEMM at
the end of the backward pass makes no calls.

    T_step(N) = T_compute + T_comm(N) - min(h * T_comm(N), T_window)
"""
import argparse
import json
import statistics
import sys

NETWORKS = [
    # name, alpha (s), beta (bytes/s)
    ("25 Gb/s Ethernet (TCP, alpha 25 us)", 25e-6, 25e9 / 8),
    ("100 Gb/s InfiniBand (alpha 2 us)", 2e-6, 100e9 / 8),
]
NODES = [8, 16, 32, 64]

# W3 per sample: forward 784*512 + 512*256 + 256*10 multiply-adds; backward
# the weight gradients (same count) plus the input gradients of layers 2-3.
FORWARD = 784 * 512 + 512 * 256 + 256 * 10
BACKWARD = FORWARD + 512 * 256 + 256 * 10
# Left after the first 256 KiB bucket (layers 3 and 2) is full: layer 2's
# input gradient and layer 1's weight gradient.
AFTER_FIRST_BUCKET = 512 * 256 + 784 * 512


def median_range(values):
    return statistics.median(values), min(values), max(values)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    rows = [json.loads(line) for line in sys.stdin if line.startswith("{")]
    if not rows:
        sys.exit("dist_model: no JSON lines on stdin")
    groups = {}
    for r in rows:
        groups.setdefault((r["scaling"], r["ranks"], r["mode"]), []).append(r)

    print("| scaling | ranks | batch per rank | mode | step ms, median [min-max] | samples/s | "
          "exposed comm ms | hidden |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for (scaling, ranks, mode), runs in sorted(groups.items()):
        m, lo, hi = median_range([r["step_ms"] for r in runs])
        hidden = [r["hidden_fraction"] for r in runs if "hidden_fraction" in r]
        print(f"| {scaling} | {ranks} | {runs[0]['rank_batch']} | {mode} | {m:.3f} [{lo:.3f}-{hi:.3f}] "
              f"| {statistics.median(r['samples_per_s'] for r in runs):.0f} "
              f"| {statistics.median(r['exposed_comm_ms'] for r in runs):.3f} "
              f"| {f'{statistics.median(hidden):.0%}' if hidden else '—'} |")
    comm_rows = [r for r in rows if "bytes_per_step" in r]
    if not comm_rows:
        return
    bytes_per_step = comm_rows[0]["bytes_per_step"]
    print(f"\nGradient bytes summed per step: {bytes_per_step} "
          f"({bytes_per_step / 2**20:.2f} MiB, {comm_rows[0]['buckets']} buckets of "
          f"{comm_rows[0]['bucket_kib']} KiB).")

    local = [r["step_ms"] for r in rows
             if r["scaling"] == "weak" and r["ranks"] == 1 and r["mode"] == "local"]
    if not local:
        return
    compute_ms = statistics.median(local)
    measured_hidden = [r["hidden_fraction"] for r in rows
                       if r["scaling"] == "weak" and r["ranks"] == 2 and "hidden_fraction" in r]
    hidden_share = statistics.median(measured_hidden) if measured_hidden else 0.0
    backward_ms = compute_ms * BACKWARD / (FORWARD + BACKWARD)
    window_ms = backward_ms * AFTER_FIRST_BUCKET / BACKWARD
    print(f"\nModel (weak scaling, 128 rows per node; measured compute {compute_ms:.3f} ms per step, "
          f"backward {backward_ms:.3f} ms, overlap window {window_ms:.3f} ms, hidden share "
          f"{hidden_share:.0%}):\n")
    print("| network | nodes | allreduce ms | step ms | efficiency | samples/s | "
          "step ms, all hidden |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, alpha, beta in NETWORKS:
        for n in NODES:
            comm_ms = 1e3 * (2 * (n - 1) * alpha + 2 * (n - 1) / n * bytes_per_step / beta)
            step_ms = compute_ms + comm_ms - min(hidden_share * comm_ms, window_ms)
            print(f"| {name} | {n} | {comm_ms:.3f} | {step_ms:.3f} | {compute_ms / step_ms:.0%} "
                  f"| {n * 128 / (step_ms * 1e-3):,.0f} "
                  f"| {compute_ms + max(0.0, comm_ms - window_ms):.3f} |")


if __name__ == "__main__":
    main()
