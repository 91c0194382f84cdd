#!/usr/bin/env python3
"""Benchmark driver: qfactor's seed-batched learners against the PyTorch one-seed baseline,
side by side on this machine, plus the exact reference's criterion benchmarks.

    python3 bench/run.py                      # everything (about 25 minutes on 2 cores)
    python3 bench/run.py --quick              # K = 1 and 1024, one repeat, fewer steps
    python3 bench/run.py --devices cpu,cuda   # add the CUDA column (needs a GPU)
    python3 bench/run.py --no-reference       # skip the criterion benchmarks

What it does:

1. builds `neural/examples/bench.rs` (release) and measures one core's peak f32 rate
   (`bench --peak`: independent FMAs on vector registers, per CPU-second);
2. for each repeat, game and method: runs the PyTorch baseline (bench/pytorch_baseline.py,
   one seed, one process, 1 thread), then qfactor at every K, one process per measurement
   (so each peak resident memory is that configuration's alone) — ours and theirs
   interleaved in time, so that other load on the machine affects both alike;
3. takes medians over the repeats (and keeps min and max as the noise), writes every raw
   measurement to bench/results/neural.json and .csv and the medians to
   bench/results/neural-summary.csv;
4. runs `cargo bench -p qfactor-reference --bench reference` and collects criterion's
   estimates into bench/results/reference.json;
5. rewrites the generated sections of BENCHMARKS.md (between `<!-- bench:NAME:begin -->`
   and `<!-- bench:NAME:end -->`), leaving the prose around them alone.

Wall-clock rates are what a user sees; on a machine shared with other work they undercount.
Every measurement therefore also reports seed-steps per CPU-second (user + system time of
the process), which other processes do not disturb; the fraction of peak is computed from
it (per core) and from the wall clock (whole machine).
"""

import argparse
import csv
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
METHODS = ["vdn", "qmix", "qtran-base", "qtran-alt", "iql"]
GAMES = ["paper-table1", "twentyone"]
# Seed-steps per measurement (steps = budget / K, at least MIN_STEPS): about 2-4 s each.
BUDGET = {"vdn": 60_000, "iql": 60_000, "qmix": 40_000, "qtran-base": 16_000, "qtran-alt": 14_000}
MIN_STEPS = 20
MAX_STEPS = 5000
BASELINE_STEPS = {"vdn": 2000, "iql": 2000, "qmix": 1500, "qtran-base": 1000, "qtran-alt": 1000}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def python():
    venv = os.path.join(ROOT, ".venv", "bin", "python")
    return venv if os.path.exists(venv) else sys.executable


def run_json(cmd, timeout=900):
    t = time.time()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    line = [l for l in p.stdout.splitlines() if l.startswith("{")][-1]
    out = json.loads(line)
    out["process_s"] = time.time() - t
    return out


def loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def machine(peak):
    info = {"platform": platform.platform(), "cores": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            k, _, v = line.partition(":")
            v = v.strip()
            if k in ("Model name", "CPU family", "Model", "L1d cache", "L2 cache", "L3 cache",
                     "Hypervisor vendor", "BogoMIPS"):
                info[k] = v
            if k == "Flags":
                info["avx512f"] = "avx512f" in v.split()
                info["avx2"] = "avx2" in v.split()
                info["fma"] = "fma" in v.split()
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    for cmd, key in ((["rustc", "--version"], "rustc"),
                     ([python(), "-c", "import torch; print(torch.__version__)"], "torch")):
        try:
            info[key] = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            pass
    info.update(peak)
    return info


def steps_for(method, k, quick):
    budget = BUDGET[method] // (3 if quick else 1)
    return max(MIN_STEPS, min(budget // k, MAX_STEPS))


def median_row(rows):
    keys = ["seed_steps_per_s", "seed_steps_per_cpu_s", "gflops_per_s", "gflops_per_cpu_s",
            "max_rss_mb", "rss_before_mb", "rss_after_mb"]
    out = {k: rows[0][k] for k in ("impl", "game", "method", "seeds", "device", "threads", "steps")
           if k in rows[0]}
    out["repeats"] = len(rows)
    for k in keys:
        vals = [r[k] for r in rows if r.get(k) is not None]
        if vals:
            out[k] = statistics.median(vals)
            out[k + "_min"] = min(vals)
            out[k + "_max"] = max(vals)
    return out


def fmt(x, digits=0):
    if x is None:
        return "—"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def neural_tables(summary, info, games, methods, ks):
    peak = info.get("core_peak_gflops_per_cpu_s") or 0.0
    cores = info.get("cores") or 1
    by = {(r["impl"], r["game"], r["method"], r["seeds"], r["device"]): r for r in summary}
    lines = []
    lines.append("| game | method | K | CPU seed-steps/s (wall) | range over repeats | per CPU-second "
                 "| GFLOP/s per CPU-s | % of a core's peak | % of the machine's peak (wall) "
                 "| peak RSS MiB | CUDA seed-steps/s |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for game in games:
        for method in methods:
            for k in ks:
                r = by.get(("qfactor", game, method, k, "cpu"))
                g = by.get(("qfactor", game, method, k, "cuda"))
                cuda = fmt(g["seed_steps_per_s"]) if g else "not measured"
                if r is None:
                    lines.append(f"| {game} | {method} | {k} | not measured | | | | | | | {cuda} |")
                    continue
                core = 100 * r["gflops_per_cpu_s"] / peak if peak else None
                mach = 100 * r["gflops_per_s"] / (peak * cores) if peak else None
                lines.append(
                    f"| {game} | {method} | {k} | {fmt(r['seed_steps_per_s'])} "
                    f"| {fmt(r['seed_steps_per_s_min'])}–{fmt(r['seed_steps_per_s_max'])} "
                    f"| {fmt(r['seed_steps_per_cpu_s'])} | {fmt(r['gflops_per_cpu_s'], 1)} "
                    f"| {fmt(core, 1)} | {fmt(mach, 1)} | {fmt(r['max_rss_mb'])} | {cuda} |")
    return "\n".join(lines)


def baseline_tables(summary, games, methods, ks):
    by = {(r["impl"], r["game"], r["method"], r["seeds"], r["device"]): r for r in summary}
    big = 1024 if 1024 in ks else max(ks)
    lines = []
    lines.append(f"| game | method | PyTorch seed-steps/s (wall) | per CPU-s | peak RSS MiB "
                 f"| qfactor K=1 | ratio K=1 (wall / CPU) | qfactor K={big}, per seed "
                 f"| ratio K={big} (wall / CPU) |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for game in games:
        for method in methods:
            b = by.get(("pytorch", game, method, 1, "cpu"))
            o1 = by.get(("qfactor", game, method, 1, "cpu"))
            ob = by.get(("qfactor", game, method, big, "cpu"))
            if b is None:
                continue

            def ratio(o):
                if o is None:
                    return "—"
                return (f"{o['seed_steps_per_s'] / b['seed_steps_per_s']:.1f}× / "
                        f"{o['seed_steps_per_cpu_s'] / b['seed_steps_per_cpu_s']:.1f}×")
            lines.append(
                f"| {game} | {method} | {fmt(b['seed_steps_per_s'])} | {fmt(b['seed_steps_per_cpu_s'])} "
                f"| {fmt(b['max_rss_mb'])} | {fmt(o1 and o1['seed_steps_per_s'])} | {ratio(o1)} "
                f"| {fmt(ob and ob['seed_steps_per_s'])} | {ratio(ob)} |")
    return "\n".join(lines)


def flops_table(rows, games, methods, info):
    peak = info.get("core_peak_gflops_per_cpu_s") or 0.0
    cores = info.get("cores") or 1
    seen = {}
    for r in rows:
        if r["impl"] == "qfactor" and (r["game"], r["method"]) not in seen:
            seen[(r["game"], r["method"])] = r
    lines = ["| game | method | parameters per seed | matrix-product FLOPs per seed-step "
             "| optimiser FLOPs per seed-step | seed-steps/s at 25% of the 2 cores' peak "
             "| at 100% |", "|---|---|---:|---:|---:|---:|---:|"]
    for game in games:
        for method in methods:
            r = seen.get((game, method))
            if r is None:
                continue
            f = r["matmul_flops_per_seed_step"]
            limit = peak * cores * 1e9 / f if f else None
            lines.append(f"| {game} | {method} | {fmt(r['params_per_seed'])} | {f / 1e6:.2f} M "
                         f"| {r['optimiser_flops_per_seed_step'] / 1e6:.2f} M "
                         f"| {fmt(limit and limit / 4)} | {fmt(limit)} |")
    return "\n".join(lines)


def machine_table(info, load):
    peak = info.get("core_peak_gflops_per_cpu_s")
    rows = [
        ("CPU", f"{info.get('Model name', '?')} (family {info.get('CPU family', '?')}, "
                f"model {info.get('Model', '?')}), {info.get('cores')} cores, "
                f"hypervisor {info.get('Hypervisor vendor', 'none')}"),
        ("SIMD", f"AVX-512F {'yes' if info.get('avx512f') else 'no'}, AVX2 "
                 f"{'yes' if info.get('avx2') else 'no'}, FMA {'yes' if info.get('fma') else 'no'}"),
        ("caches", f"L1d {info.get('L1d cache', '?')}, L2 {info.get('L2 cache', '?')}, "
                   f"L3 {info.get('L3 cache', '?')}"),
        ("memory", f"{info.get('memory_gib', '?')} GiB"),
        ("measured core peak (f32)", f"{fmt(peak, 1)} GFLOP/s per core "
                                     f"({info.get('vector_bits')}-bit FMA loop, per CPU-second; the "
                                     f"highest of {len(info.get('core_peak_measurements') or [peak])} "
                                     f"measurements during the run{peak_range(info)}); "
                                     f"machine {fmt((peak or 0) * (info.get('cores') or 1), 1)} GFLOP/s"),
        ("software", f"{info.get('rustc', '?')}; PyTorch {info.get('torch', '?')} (libtorch for qfactor "
                     f"and the baseline alike); {info.get('platform')}"),
        ("load average during the run", ", ".join(f"{x:.1f}" for x in load if x is not None)),
        ("date", datetime.datetime.now().strftime("%Y-%m-%d %H:%M")),
    ]
    lines = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def peak_range(info):
    ms = info.get("core_peak_measurements") or []
    return f", which ranged {min(ms):.1f}–{max(ms):.1f}" if len(ms) > 1 else ""


def reference_table(ref):
    lines = ["| benchmark | mean | 95% interval |", "|---|---:|---:|"]
    for r in ref:
        lines.append(f"| {r['id']} | {r['mean_ms']:.3f} ms | {r['lo_ms']:.3f}–{r['hi_ms']:.3f} ms |")
    return "\n".join(lines)


def replace_section(text, name, body):
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        pre, rest = text.split(begin, 1)
        _, post = rest.split(end, 1)
        return pre + block + post
    return text.rstrip("\n") + "\n\n" + block + "\n"


def run_analyze(repeats=21):
    """`qfactor analyze GAME` end to end (process start, parsing, the whole analysis with the
    default interactive QMIX budget, printing) for every built-in game: median and maximum
    wall-clock milliseconds over `repeats` runs of the release binary."""
    log("end to end: cargo build --release -p qfactor; qfactor analyze GAME for every built-in")
    subprocess.run(["cargo", "build", "--release", "-p", "qfactor"], cwd=ROOT, check=True,
                   stdout=sys.stderr)
    exe = os.path.join(target_dir(), "release", "qfactor")
    games = subprocess.run([exe, "games", "--json"], cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout
    names = [g["name"] for g in json.loads(games)]
    out = []
    for name in names:
        times = []
        label = ""
        for _ in range(repeats):
            t = time.perf_counter()
            p = subprocess.run([exe, "--quiet", "analyze", name, "--json"], cwd=ROOT,
                               capture_output=True, text=True)
            times.append((time.perf_counter() - t) * 1e3)
            if p.returncode != 0:
                raise RuntimeError(f"qfactor analyze {name} failed: {p.stderr[-2000:]}")
            label = qmix_label(p.stdout)
        out.append({"game": name, "median_ms": statistics.median(times), "max_ms": max(times),
                    "qmix": label})
        log(f"analyze {name}: median {out[-1]['median_ms']:.1f} ms, max {out[-1]['max_ms']:.1f} ms")
    return out


def qmix_label(text):
    """How `analyze --json` labels the QMIX ideal of each state: exact, or heuristic with its
    gap to the certified lower bound."""
    data = json.loads(text)
    labels = []
    for st in data.get("states", []):
        m = st.get("qmix", {})
        if m.get("exact"):
            labels.append("exact")
        else:
            lb, sse = m.get("lower_bound"), m.get("sse")
            gap = f", SSE {sse:.4g} ≥ optimum ≥ lower bound {lb:.4g}" if lb is not None else ""
            labels.append(f"heuristic{gap}")
    return "; ".join(sorted(set(labels))) or "?"


def analyze_table(rows):
    lines = ["| game | median | max | QMIX ideal |", "|---|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['game']} | {r['median_ms']:.1f} ms | {r['max_ms']:.1f} ms | {r['qmix']} |")
    return "\n".join(lines)


def run_reference():
    log("criterion: cargo bench -p qfactor-reference --bench reference")
    subprocess.run(["cargo", "bench", "-p", "qfactor-reference", "--bench", "reference"],
                   cwd=ROOT, check=True, stdout=sys.stderr)
    base = os.path.join(target_dir(), "criterion")
    out = []
    for group in sorted(os.listdir(base)):
        gdir = os.path.join(base, group)
        for dirpath, _, files in os.walk(gdir):
            if "estimates.json" in files and os.path.basename(dirpath) == "new":
                with open(os.path.join(dirpath, "estimates.json")) as f:
                    est = json.load(f)
                with open(os.path.join(dirpath, "benchmark.json")) as f:
                    meta = json.load(f)
                m = est["mean"]
                out.append({
                    "id": meta.get("full_id", group),
                    "mean_ms": m["point_estimate"] / 1e6,
                    "lo_ms": m["confidence_interval"]["lower_bound"] / 1e6,
                    "hi_ms": m["confidence_interval"]["upper_bound"] / 1e6,
                })
    order = {"analyze": 0, "qmix_exact": 1, "check": 2}
    out.sort(key=lambda r: (order.get(r["id"].split("/")[0], 9), r["id"]))
    return out


MEMORY_STEPS = [100, 1000, 10_000, 20_000]


def run_memory(exe):
    """Peak resident memory against the number of steps (16 seeds, one thread, one process
    per run): it should grow only while the replay buffers fill (10 000 transitions each)."""
    out = []
    for method in ["vdn", "qmix", "qtran-base"]:
        for steps in MEMORY_STEPS:
            r = run_json([exe, "--method", method, "--seeds", "16", "--threads", "1",
                          "--steps", str(steps)], timeout=1800)
            out.append({"method": method, "steps": steps, "max_rss_mb": r["max_rss_mb"]})
            log(f"memory {method} {steps} steps: {r['max_rss_mb']:.1f} MiB")
    return out


def memory_table(rows):
    methods = list(dict.fromkeys(r["method"] for r in rows))
    head = "| method (K = 16, paper-table1) | " + " | ".join(f"{s:,} steps" for s in MEMORY_STEPS) + " |"
    lines = [head, "|---|" + "---:|" * len(MEMORY_STEPS)]
    for m in methods:
        cells = {r["steps"]: r["max_rss_mb"] for r in rows if r["method"] == m}
        lines.append(f"| {m} | " + " | ".join(f"{cells[s]:.1f} MiB" for s in MEMORY_STEPS) + " |")
    return "\n".join(lines)


def merge_saved(rows, games, methods, ks):
    """The saved runs of every (game, method, device) not measured now, followed by the new
    runs; the games, methods and seed counts of the union, in the default order."""
    path = os.path.join(RESULTS, "neural.json")
    if not os.path.exists(path):
        return rows, games, methods, ks
    with open(path) as f:
        saved = json.load(f)["runs"]
    fresh = {(r["game"], r["method"], r["device"]) for r in rows}
    kept = [r for r in saved if (r["game"], r["method"], r["device"]) not in fresh]
    rows = kept + rows
    games = [g for g in GAMES if any(r["game"] == g for r in rows)]
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    ks = sorted({r["seeds"] for r in rows if r["impl"] == "qfactor"})
    log(f"merged {len(kept)} saved runs with {len(rows) - len(kept)} new ones")
    return rows, games, methods, ks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ks", default=None, help="seed counts (default 1,64,1024,4096)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--games", default=",".join(GAMES))
    ap.add_argument("--devices", default="cpu")
    ap.add_argument("--quick", action="store_true", help="K = 1 and 1024, one repeat, a third of the steps")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip the reference: analyze end to end and criterion")
    ap.add_argument("--no-criterion", action="store_true", help="skip the criterion benchmarks")
    ap.add_argument("--no-memory", action="store_true", help="skip peak memory against steps")
    ap.add_argument("--no-neural", action="store_true")
    ap.add_argument("--markdown", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--from-json", help="regenerate BENCHMARKS.md from a saved neural.json, measure nothing")
    ap.add_argument("--merge", action="store_true",
                    help="keep the saved measurements (bench/results/neural.json) of every game, "
                         "method and device not measured now, and regenerate the tables from all")
    args = ap.parse_args()
    if args.quick:
        args.repeats = 1
        args.ks = args.ks or "1,1024"
    ks = [int(k) for k in (args.ks or "1,64,1024,4096").split(",")]
    methods = args.methods.split(",")
    games = args.games.split(",")
    devices = args.devices.split(",")
    os.makedirs(RESULTS, exist_ok=True)
    sections = {}

    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        info, load, rows = saved["machine"], saved["load"], saved["runs"]
        games = [g for g in games if any(r["game"] == g for r in rows)]
        methods = [m for m in methods if any(r["method"] == m for r in rows)]
        ks = sorted({r["seeds"] for r in rows if r["impl"] == "qfactor"})
        args.no_reference = True
    elif not args.no_neural:
        log("building neural/examples/bench.rs (release)")
        subprocess.run(["cargo", "build", "--release", "-p", "qfactor-neural", "--example", "bench"],
                       cwd=ROOT, check=True, stdout=sys.stderr)
        exe = os.path.join(target_dir(), "release", "examples", "bench")
        # The cores' peak is measured before the runs and after each game of each repeat; the
        # fractions of peak use the highest measurement (the clock of a shared host varies,
        # and the highest is the conservative denominator).
        peaks = []

        def measure_peak():
            p = run_json([exe, "--peak"])
            peaks.append(p["core_peak_gflops_per_cpu_s"])
            log(f"core peak: {peaks[-1]:.1f} GFLOP/s")
            return p

        peak = measure_peak()
        peak.pop("process_s", None)
        load = [loadavg()]
        rows = []
        for rep in range(args.repeats):
            for game in games:
                for method in methods:
                    if not args.no_baseline:
                        for dev in devices:
                            cmd = [python(), os.path.join(ROOT, "bench", "pytorch_baseline.py"),
                                   "--game", game, "--method", method, "--device", dev,
                                   "--steps", str(BASELINE_STEPS[method] // (3 if args.quick else 1))]
                            r = run_json(cmd)
                            r.update(repeat=rep, load=loadavg())
                            rows.append(r)
                            log(f"[{rep}] pytorch {game} {method} {dev}: {r['seed_steps_per_s']:.0f} seed-steps/s")
                    for dev in devices:
                        for k in ks:
                            cmd = [exe, "--game", game, "--method", method, "--seeds", str(k),
                                   "--device", dev, "--steps", str(steps_for(method, k, args.quick))]
                            r = run_json(cmd)
                            r.update(repeat=rep, load=loadavg())
                            rows.append(r)
                            log(f"[{rep}] qfactor {game} {method} {dev} K={k}: "
                                f"{r['seed_steps_per_s']:.0f} seed-steps/s, "
                                f"{r['seed_steps_per_cpu_s']:.0f} per CPU-s, RSS {r['max_rss_mb']:.0f} MiB")
                measure_peak()
            load.append(loadavg())
        peak["core_peak_gflops_per_cpu_s"] = max(peaks)
        peak["core_peak_measurements"] = peaks
        info = machine(peak)
        if args.merge:
            rows, games, methods, ks = merge_saved(rows, games, methods, ks)
    if args.from_json or not args.no_neural:
        groups = {}
        for r in rows:
            groups.setdefault((r["impl"], r["game"], r["method"], r["seeds"], r["device"]), []).append(r)
        summary = [median_row(g) for g in groups.values()]
        if not args.from_json:
            with open(os.path.join(RESULTS, "neural.json"), "w") as f:
                json.dump({"machine": info, "load": load, "runs": rows, "summary": summary}, f, indent=1)
        fields = sorted({k for r in rows for k in r})
        for name, data in (("neural.csv", rows), ("neural-summary.csv", summary)):
            keys = fields if name == "neural.csv" else sorted({k for r in summary for k in r})
            with open(os.path.join(RESULTS, name), "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=keys)
                w.writeheader()
                for r in data:
                    w.writerow(r)
        sections["machine"] = machine_table(info, load)
        sections["neural"] = neural_tables(summary, info, games, methods, ks)
        sections["flops"] = flops_table(rows, games, methods, info)
        if any(r["impl"] == "pytorch" for r in rows):
            sections["baseline"] = baseline_tables(summary, games, methods, ks)

    if not (args.from_json or args.no_memory):
        subprocess.run(["cargo", "build", "--release", "-p", "qfactor-neural", "--example", "bench"],
                       cwd=ROOT, check=True, stdout=sys.stderr)
        mem = run_memory(os.path.join(target_dir(), "release", "examples", "bench"))
        with open(os.path.join(RESULTS, "memory.json"), "w") as f:
            json.dump(mem, f, indent=1)
        sections["memory"] = memory_table(mem)

    if not args.no_reference:
        ana = run_analyze()
        with open(os.path.join(RESULTS, "analyze.json"), "w") as f:
            json.dump(ana, f, indent=1)
        sections["analyze"] = analyze_table(ana)
    if not (args.no_reference or args.no_criterion):
        ref = run_reference()
        with open(os.path.join(RESULTS, "reference.json"), "w") as f:
            json.dump(ref, f, indent=1)
        sections["reference"] = reference_table(ref)

    # Read the prose now (it may have been edited while the benchmarks ran).
    md = open(args.markdown).read() if os.path.exists(args.markdown) else "# Benchmarks\n"
    for name, body in sections.items():
        md = replace_section(md, name, body)
    with open(args.markdown, "w") as f:
        f.write(md)
    log(f"wrote {args.markdown} and {RESULTS}/")


if __name__ == "__main__":
    main()
