#!/usr/bin/env python3
"""Prints bench/compare's Markdown table from the files its runs left.

Called by bench/compare, not by hand. In --dir, for run R, workload W (W1..W5)
and thread count T:
  ref-R-W-T.jsonl      run.sh's JSON lines (LibTorch) for that workload
  ref-R-limits-T.jsonl run.sh's ceilings (STREAM copy, cblas_sgemm) at T
  act-R-W-T.json       actgrad_bench's Google Benchmark JSON
  act-R-W-T.noise      cores other processes kept busy during it
  failures             one line per actgrad_bench process that failed
Any of them may be missing (a failed process, no LibTorch); their cells
print as "—".
"""
import argparse
import datetime
import json
import os
import statistics
import sys

N = 4194304  # W2's tensor size.
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu"]
MLP_ACTIVATIONS = ["relu", "tanh", "sigmoid"]
REFERENCE_NAMES = {"W1": "overhead", "W2": "activations", "W3": "mlp", "W4": "deep", "W5": "gemm",
                   "W6": "cnn", "W7": "lstm", "W8": "transformer"}
# The benchmark of each training-step workload whose rows are step_ms and
# gflops_effective.
STEP_BENCHMARKS = {"W6": ("W6 cnn", "W6_cnn"), "W7": ("W7 lstm", "W7_lstm"),
                   "W8": ("W8 transformer", "W8_transformer")}
HIGHER_IS_BETTER = {"gflops", "gflops_best", "gemm_gflops_effective", "gflops_effective"}


def warn(message):
    print(f"[compare] warning: {message}", file=sys.stderr)


# --------------------------------------------------------------- reading


def read_json_lines(path):
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    warn(f"{path}: unreadable line {line[:80]}")
    return records


class Reference:
    """run.sh's normal-run lines of one (run, workload, threads)."""

    def __init__(self, path, workload, threads, notes):
        self.record = None
        self.env = None
        for rec in read_json_lines(path):
            if rec.get("variant"):
                continue
            bench = rec.get("bench")
            if bench == "error":
                notes.append(f"LibTorch {workload} at {threads} thread(s): run.sh reported "
                             f"an error (rc {rec.get('rc')}): {rec.get('stderr', '')[:200]}")
            elif (bench == "libtorch" and rec.get("workload") == REFERENCE_NAMES[workload]
                  and rec.get("threads") == threads):
                self.record = rec
            elif bench == "env" and rec.get("phase") == "start":
                self.env = rec


class Limits:
    """The ceilings run.sh measured at one thread count."""

    def __init__(self, path, threads):
        self.copy16 = None
        self.sgemm = None
        self.fma = None
        self.env = None
        for rec in read_json_lines(path):
            if rec.get("bench") == "env" and rec.get("phase") == "start":
                self.env = rec
            if rec.get("bench") != "limits" or rec.get("variant") or rec.get("threads") != threads:
                continue
            if rec.get("test") == "stream" and rec.get("array_mib") == 16:
                self.copy16 = rec
            elif rec.get("test") == "sgemm":
                self.sgemm = rec
            elif rec.get("test") == "fma_peak":
                self.fma = rec


class Actgrad:
    """actgrad_bench's results of one (run, workload, threads), by name."""

    def __init__(self, base):
        self.benchmarks = {}
        self.context = {}
        self.noise = None
        self.present = os.path.exists(base + ".json")
        if self.present:
            try:
                with open(base + ".json") as f:
                    doc = json.load(f)
            except json.JSONDecodeError as e:
                warn(f"{base}.json: {e}")
                doc = {}
            self.context = doc.get("context", {})
            for b in doc.get("benchmarks", []):
                if b.get("error_occurred"):
                    warn(f"actgrad_bench: {b['name']}: {b.get('error_message')}")
                    continue
                self.benchmarks[b["name"]] = b
        if os.path.exists(base + ".noise"):
            with open(base + ".noise") as f:
                text = f.read().strip()
                self.noise = float(text) if text else None

    def peak_rss(self):
        values = [b["peak_rss_mib"] for b in self.benchmarks.values() if "peak_rss_mib" in b]
        return max(values) if values else None


# --------------------------------------------------------------- rows
#
# A row spec: (label, metric, reference getter, actgrad benchmark name, bound
# getter or None). Getters take the record and return the dict that holds
# the metric (or None).


def main_rows(workload):
    if workload == "W1":
        return [("W1 overhead", m, lambda r: r, "W1_overhead", None)
                for m in ("fwd_ns_per_op", "bwd_ns_per_op", "total_ns_per_op",
                          "nograd_fwd_ns_per_op")]
    if workload == "W2":
        rows = []
        for act in ACTIVATIONS:
            get = (lambda a: lambda r: r["results"].get(a))(act)
            # The least time the bytes WORKLOADS.md counts can take at the
            # machine's measured copy bandwidth (16 MiB arrays, like W2's).
            rows.append((f"W2 {act}", "fwd_ms", get, f"W2_activations/{act}",
                         lambda copy: 8.0 * N / (copy * 1e9) * 1e3))
            rows.append((f"W2 {act}", "bwd_ms", get, f"W2_activations/{act}",
                         lambda copy: 12.0 * N / (copy * 1e9) * 1e3))
        return rows
    if workload == "W3":
        rows = []
        for act in MLP_ACTIVATIONS:
            get = (lambda a: lambda r: r["results"].get(a))(act)
            for m in ("step_ms", "gemm_gflops_effective"):
                rows.append((f"W3 mlp {act}", m, get, f"W3_mlp/{act}", None))
        return rows
    if workload == "W4":
        return [("W4 deep", "step_ms", lambda r: r, "W4_deep", None)]
    if workload == "W5":
        return [("W5 gemm", m, lambda r: r, "W5_gemm", None) for m in ("ms", "gflops", "gflops_best")]
    if workload in STEP_BENCHMARKS:
        label, name = STEP_BENCHMARKS[workload]
        return [(label, m, lambda r: r, name, None) for m in ("step_ms", "gflops_effective")]
    return []


def side_rows(workload):
    if workload == "W1":
        return [("W1 overhead", m, lambda r: r, "W1_overhead")
                for m in ("check_loss", "check_grad_x", "teardown_ns_per_op", "minflt_per_rep")]
    if workload == "W2":
        rows = []
        for act in ACTIVATIONS:
            get = (lambda a: lambda r: r["results"].get(a))(act)
            for m in ("check_grad_sum", "minflt_per_rep"):
                rows.append((f"W2 {act}", m, get, f"W2_activations/{act}"))
        return rows
    if workload == "W3":
        rows = []
        for act in MLP_ACTIVATIONS:
            get = (lambda a: lambda r: r["results"].get(a))(act)
            for m in ("step_ms_min", "check_loss_first", "check_loss_last", "minflt_per_step"):
                rows.append((f"W3 mlp {act}", m, get, f"W3_mlp/{act}"))
        return rows
    if workload == "W4":
        return [("W4 deep", m, lambda r: r, "W4_deep")
                for m in ("step_ms_min", "check_loss_first", "check_loss_last", "minflt_per_step")]
    if workload == "W5":
        return [("W5 gemm", m, lambda r: r, "W5_gemm") for m in ("check_sum", "minflt_per_rep")]
    if workload in STEP_BENCHMARKS:
        label, name = STEP_BENCHMARKS[workload]
        return [(label, m, lambda r: r, name)
                for m in ("step_ms_min", "check_loss_first", "check_loss_last", "minflt_per_step")]
    return []


def digits_for(metric):
    if metric.endswith("_ns_per_op"):
        return 1
    if metric == "check_loss":
        return 7
    if metric == "check_grad_x":
        return 9
    if metric.startswith("check_loss_"):
        return 5
    if (metric in HIGHER_IS_BETTER or metric.startswith("minflt") or metric == "check_grad_sum"
            or metric == "check_sum" or metric.endswith("_gbs") or metric == "peak_rss_mib"):
        return 2
    return 3


def cell(values, digits):
    """median [min–max] over the runs; one value when they all print alike."""
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    med, lo, hi = (f"{v:.{digits}f}" for v in (statistics.median(values), min(values), max(values)))
    return med if lo == hi else f"{med} [{lo}–{hi}]"


def metric_of(getter, record, metric):
    if record is None:
        return None
    try:
        holder = getter(record)
    except (KeyError, TypeError):
        return None
    if holder is None:
        return None
    value = holder.get(metric)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--threads", required=True)
    parser.add_argument("--workloads", required=True)
    parser.add_argument("--date", default="")
    parser.add_argument("--reference-off", default="")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split()]
    workloads = args.workloads.split()
    runs = range(1, args.runs + 1)
    d = args.dir

    notes = []
    ref = {}
    act = {}
    limits = {}
    for r in runs:
        for t in threads:
            limits[r, t] = Limits(os.path.join(d, f"ref-{r}-limits-{t}.jsonl"), t)
            for w in workloads:
                ref[r, w, t] = Reference(os.path.join(d, f"ref-{r}-{w}-{t}.jsonl"), w, t, notes)
                act[r, w, t] = Actgrad(os.path.join(d, f"act-{r}-{w}-{t}"))
    have_reference = any(x.record is not None for x in ref.values())

    # ------------------------------------------------------------ header
    env = next((x.env for x in list(ref.values()) + list(limits.values()) if x.env), {})
    context = next((a.context for a in act.values() if a.context), {})
    cpu, cores = "?", os.cpu_count()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), "?")
    except OSError:
        pass
    date = args.date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    thread_text = ", ".join(str(t) for t in threads)
    coretype = context.get("OPENBLAS_CORETYPE", os.environ.get("OPENBLAS_CORETYPE", "(unset)"))
    blas = f"{context.get('blas_core', '?')} ({context.get('blas_library', '?')})"
    ref_cores = sorted({x.record.get("blas_core") for x in ref.values()
                        if x.record and x.record.get("blas_core")})
    runs_text = f"runs: {args.runs}"
    if args.runs > 1:
        runs_text += (" (cells: median [min–max] over runs; ratios per run, paired)"
                      if have_reference else " (cells: median [min–max] over runs)")
    if have_reference:
        print(f"## actgrad vs LibTorch {env.get('libtorch_dev', '?')}, threads {thread_text}")
    else:
        print(f"## actgrad alone, threads {thread_text}")
    print()
    print(f"{date}; CPU: {cpu} ({cores} cores); threads: {thread_text}; "
          f"OPENBLAS_CORETYPE={coretype}; float32 GEMM: actgrad "
          f"{context.get('gemm_float32', '?')}, float64 {blas}"
          + (f", LibTorch {', '.join(ref_cores)}" if ref_cores else "") + f"; {runs_text}")
    print()
    if not have_reference:
        reason = args.reference_off or "run.sh produced no LibTorch results"
        print(f"LibTorch reference not run ({reason}): actgrad's numbers alone, "
              "nothing to compare them with.")
        print()
    elif args.reference_off:
        notes.append(f"the LibTorch reference stopped part-way ({args.reference_off}); "
                     "its missing cells print as —")

    # ------------------------------------------------------------ main table
    if have_reference:
        print("| workload | T | metric | better | LibTorch | actgrad | actgrad / LibTorch "
              "| bound (copy bandwidth) | LibTorch / bound | actgrad / bound | busy |")
        print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    else:
        print("| workload | T | metric | better | actgrad | busy |")
        print("| --- | ---: | --- | --- | ---: | ---: |")
    for w in workloads:
        for t in threads:
            # The most cores other processes kept busy while either side of
            # this workload ran, over the runs.
            busy_values = [act[r, w, t].noise for r in runs]
            busy_values += [ref[r, w, t].record.get("others_cores") for r in runs
                            if ref[r, w, t].record]
            busy_values = [v for v in busy_values if v is not None]
            busy = f"{max(busy_values):.2f}" if busy_values else "—"
            for label, metric, getter, name, bound_of in main_rows(w):
                lib, ours, ratio, bound, lib_b, ours_b = [], [], [], [], [], []
                for r in runs:
                    lv = metric_of(getter, ref[r, w, t].record, metric)
                    ov = metric_of(lambda b: b, act[r, w, t].benchmarks.get(name), metric)
                    copy = limits[r, t].copy16
                    bv = bound_of(copy["copy_gbs"]) if bound_of and copy else None
                    lib.append(lv)
                    ours.append(ov)
                    ratio.append(ov / lv if lv and ov is not None else None)
                    bound.append(bv)
                    lib_b.append(lv / bv if lv is not None and bv else None)
                    ours_b.append(ov / bv if ov is not None and bv else None)
                digits = digits_for(metric)
                better = "higher" if metric in HIGHER_IS_BETTER else "lower"
                if have_reference:
                    bound_cells = (f"{cell(bound, 3)} | {cell(lib_b, 2)} | {cell(ours_b, 2)}"
                                   if bound_of else " | | ")
                    print(f"| {label} | {t} | {metric} | {better} | {cell(lib, digits)} "
                          f"| {cell(ours, digits)} | {cell(ratio, 2)} | {bound_cells} | {busy} |")
                else:
                    print(f"| {label} | {t} | {metric} | {better} | {cell(ours, digits)} "
                          f"| {busy} |")
    print()
    legend = []
    if have_reference:
        legend.append("Ratio = actgrad / LibTorch, paired per run: for times (better: lower) "
                      "below 1 means actgrad is faster; for GFLOP/s (better: higher) above 1 "
                      "means actgrad is faster.")
    if "W1" in workloads:
        legend.append("W1 in ns per op node (1000 nodes; the final sum is timed but not counted).")
    if "W2" in workloads:
        legend.append("W2 in ms for N = 4,194,304 float32"
                      + ("; bound = 8·N (forward) or 12·N (backward) bytes at the STREAM copy "
                         "bandwidth of 16 MiB arrays at T threads (limits)." if have_reference
                         else "."))
    if "W3" in workloads:
        legend.append("W3: step_ms per training step (784-512-256-10, batch 128); "
                      "gemm_gflops_effective = 308.15 MFLOP / step_ms.")
    if "W4" in workloads:
        legend.append("W4: step_ms per training step (16 × Linear(64→64), batch 32).")
    if "W5" in workloads:
        legend.append("W5: 1024³ float32 product, ms per call, GFLOP/s from the median "
                      "(gflops) and the fastest call (gflops_best).")
    if "W6" in workloads:
        legend.append("W6: step_ms per training step (conv 1→32, batch norm, relu, max pool, "
                      "conv 32→64, batch norm, relu, max pool, 3136-128-10; batch 64 of 28×28); "
                      "gflops_effective = 1599.701 MFLOP / step_ms, against the FMA roof below.")
    if "W7" in workloads:
        legend.append("W7: step_ms per training step (LSTM 64→128 over 32 steps, batch 32, "
                      "Linear(128→10) on the last state, SGD with momentum); "
                      "gflops_effective = 532.677 MFLOP / step_ms.")
    if "W8" in workloads:
        legend.append("W8: step_ms per training step (one transformer encoder layer, d_model "
                      "256, 4 heads, feed-forward 1024, gelu, post-norm; 64 tokens × batch 16; "
                      "MSE, Adam); gflops_effective = 4630.512 MFLOP / step_ms, against the FMA "
                      "roof below.")
    legend.append("busy = the most CPU cores other processes kept busy while this workload "
                  "ran, either side, any run; above ~0.2 the row is suspect, at T = 2 "
                  "especially.")
    legend.append("T = threads: both sides use T for their matrix products and split "
                  "elementwise ops of 256K elements and more (W2) over T threads; actgrad "
                  "runs W1's scalar ops, losses and the optimiser on the calling thread.")
    print(" ".join(legend))
    print()

    # ------------------------------------------------------------ side table
    if have_reference:
        print("| workload | T | check / side metric | LibTorch | actgrad |")
        print("| --- | ---: | --- | ---: | ---: |")
    else:
        print("| workload | T | check / side metric | actgrad |")
        print("| --- | ---: | --- | ---: |")

    def side_line(label, t, metric, lib, ours, digits):
        if have_reference:
            print(f"| {label} | {t} | {metric} | {cell(lib, digits)} | {cell(ours, digits)} |")
        else:
            print(f"| {label} | {t} | {metric} | {cell(ours, digits)} |")

    for w in workloads:
        for t in threads:
            for label, metric, getter, name in side_rows(w):
                lib = [metric_of(getter, ref[r, w, t].record, metric) for r in runs]
                ours = [metric_of(lambda b: b, act[r, w, t].benchmarks.get(name), metric)
                        for r in runs]
                side_line(label, t, metric, lib, ours, digits_for(metric))
            lib = [ref[r, w, t].record.get("peak_rss_mib") if ref[r, w, t].record else None
                   for r in runs]
            ours = [act[r, w, t].peak_rss() for r in runs]
            side_line(f"{w} {REFERENCE_NAMES[w]}", t, "peak_rss_mib", lib, ours, 1)
    if have_reference:
        for t in threads:
            copy = [limits[r, t].copy16["copy_gbs"] if limits[r, t].copy16 else None for r in runs]
            gemm = [limits[r, t].sgemm["gflops"] if limits[r, t].sgemm else None for r in runs]
            if any(v is not None for v in copy) and "W2" in workloads:
                side_line("limits", t, "stream copy_gbs (16 MiB)", copy, [None], 2)
            if any(v is not None for v in gemm) and "W5" in workloads:
                side_line("limits", t, "cblas_sgemm 1024³ gflops", gemm, [None], 2)
            # The FMA roof of the threads used: the W6 and W8 targets are shares of it.
            # limits reports 0 for an instruction set the CPU lacks: the roof is
            # the widest set's.
            def widest(rec):
                if not rec:
                    return None, None
                if rec.get("avx512_gflops", 0) > 0:
                    return "AVX-512", rec["avx512_gflops"]
                return "AVX2", rec.get("avx2_gflops")
            roofs = [widest(limits[r, t].fma) for r in runs]
            fma = [v for _, v in roofs]
            sets = sorted({name for name, v in roofs if v is not None})
            if any(v is not None for v in fma) and ({"W6", "W7", "W8"} & set(workloads)):
                side_line("limits", t, f"FMA peak gflops ({' / '.join(sets)})", fma, [None], 2)

    # ------------------------------------------------------------ noise
    print()
    for t in threads:
        sides = [("actgrad", [act[r, w, t].noise for r in runs for w in workloads])]
        if have_reference:
            sides.insert(0, ("LibTorch", [ref[r, w, t].record.get("others_cores")
                                          for r in runs for w in workloads
                                          if ref[r, w, t].record]))
        for who, values in sides:
            values = [v for v in values if v is not None]
            if not values:
                continue
            worst = max(values)
            note = (" — above 0.2 the machine was busy and the numbers are suspect"
                    if worst > 0.2 else "")
            print(f"- {who}, T = {t}: other processes kept at most {worst:.2f} cores busy "
                  f"while it ran{note}.")
    failures = os.path.join(d, "failures")
    if os.path.exists(failures):
        with open(failures) as f:
            notes.extend(line.strip() for line in f if line.strip())
    for r in runs:
        for w in workloads:
            for t in threads:
                if act[r, w, t].present and not act[r, w, t].benchmarks:
                    notes.append(f"actgrad {w} at {t} thread(s), run {r}: no results")
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
