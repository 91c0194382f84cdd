#!/usr/bin/env python3
"""Before/after: two builds of neural/examples/bench.rs (e.g. an older commit's, built from
`git archive`, and the current one) measured interleaved on the same configurations.

    python3 bench/before_after.py BEFORE_EXE AFTER_EXE [--ks 1,64,1024,4096] [--game G]

Prints a markdown table (median of --repeats) and writes bench/results/before-after.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--ks", default="1,64,1024,4096")
    ap.add_argument("--game", default="paper-table1")
    ap.add_argument("--methods", default=",".join(bench.METHODS))
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    rows = []
    for rep in range(args.repeats):
        for method in args.methods.split(","):
            for k in ks:
                for label, exe in (("before", args.before), ("after", args.after)):
                    cmd = [exe, "--game", args.game, "--method", method, "--seeds", str(k),
                           "--steps", str(bench.steps_for(method, k, False))]
                    r = bench.run_json(cmd, timeout=1800)
                    r.update(build=label, repeat=rep)
                    rows.append(r)
                    bench.log(f"{label} {method} K={k}: {r['seed_steps_per_s']:.0f}/s, "
                              f"{r['seed_steps_per_cpu_s']:.0f} per CPU-s, RSS {r['max_rss_mb']:.0f}")
    os.makedirs(bench.RESULTS, exist_ok=True)
    with open(os.path.join(bench.RESULTS, "before-after.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print("| method | K | before: seed-steps/s (wall) | per CPU-s | peak RSS MiB "
          "| after: seed-steps/s (wall) | per CPU-s | peak RSS MiB | speed-up (wall / CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for method in args.methods.split(","):
        for k in ks:
            sel = lambda b, key: statistics.median(
                r[key] for r in rows if r["build"] == b and r["method"] == method and r["seeds"] == k)
            bw, bc, bm = (sel("before", x) for x in ("seed_steps_per_s", "seed_steps_per_cpu_s", "max_rss_mb"))
            aw, ac, am = (sel("after", x) for x in ("seed_steps_per_s", "seed_steps_per_cpu_s", "max_rss_mb"))
            print(f"| {method} | {k} | {bw:,.0f} | {bc:,.0f} | {bm:,.0f} | {aw:,.0f} | {ac:,.0f} "
                  f"| {am:,.0f} | {aw / bw:.1f}× / {ac / bc:.1f}× |")


if __name__ == "__main__":
    main()
