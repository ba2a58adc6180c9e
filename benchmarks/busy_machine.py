"""Wall time of lisq jobs alone and side by side on this machine (issue 14, item 0).

For each environment variant it runs one job alone, then two identical jobs started together, and
reports the median wall time of each and the slowdown (pair / alone). A fair share of 2 cores
between two 2-thread jobs is a 2x slowdown; the OpenMP threads of one job spinning while they wait
steal the cores the other needs and push it far beyond that.

    python benchmarks/busy_machine.py                      # the issue's synth command, 3 repeats
    python benchmarks/busy_machine.py --variants lisq,passive --repeats 5 --json out.json

Run it on otherwise idle cores: anything else running is a third job.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Environment variants. "lisq" sets nothing: whatever lisq does by default is what is measured.
# "spin" restores the OpenMP default that lisq replaces (libgomp spins ~300k iterations before sleeping).
VARIANTS = {
    "lisq": {},
    "spin": {"LISQ_THREADS_POLICY": "off"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "active": {"OMP_WAIT_POLICY": "ACTIVE"},
    "threads1": {"OMP_NUM_THREADS": "1"},
}


def variant_env(name: str) -> dict:
    """A named variant, or spin<N>[k]: GOMP_SPINCOUNT=N (libgomp's busy-wait before a thread sleeps)."""
    if name in VARIANTS:
        return VARIANTS[name]
    if name.startswith("spin") and name[4:].rstrip("k").isdigit():
        count = int(name[4:].rstrip("k")) * (1000 if name.endswith("k") else 1)
        return {"GOMP_SPINCOUNT": str(count)}
    raise SystemExit(f"unknown variant {name!r}: use one of {', '.join(VARIANTS)} or spin<N>[k]")
OMP_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "LISQ_THREADS_POLICY")


ITERS = {"synth": 10, "quantize": 20}


def command(out: Path, kind: str) -> list[str]:
    lisq = [sys.executable, "-m", "lisq"]
    if kind == "synth":
        return lisq + ["synth", "--generator", "lis", "--num-images", "64", "--batch-size", "64", "--iters", str(ITERS["synth"]),
                       "--out", str(out), "--quiet"]
    if kind == "quantize":
        return lisq + ["quantize", "--model", "resnet20", "--data", "gaussian", "--num-samples", "64",
                       "--method", "brecq", "--w-bits", "4", "--a-bits", "4", "--iters", str(ITERS["quantize"]), "--out", str(out)]
    raise SystemExit(f"unknown --command {kind!r}")


def clean_env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OMP_KEYS}
    env.update(extra)
    return env


def run_together(n: int, env: dict, kind: str, root: Path) -> list[float]:
    """Start `n` identical jobs at once; each one's wall time."""
    procs, starts = [], []
    for _ in range(n):
        out = Path(tempfile.mkdtemp(dir=root))
        starts.append(time.perf_counter())
        procs.append(subprocess.Popen(command(out / "o", kind), env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))
    times = []
    for p, t0 in zip(procs, starts, strict=True):
        _, err = p.communicate()
        times.append(time.perf_counter() - t0)
        if p.returncode != 0:
            raise SystemExit(f"job failed ({p.returncode}): {err.strip().splitlines()[-1] if err.strip() else ''}")
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="lisq,spin,passive", help=f"comma list of {', '.join(VARIANTS)}")
    ap.add_argument("--command", default="synth", choices=["synth", "quantize"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iters", type=int, default=None, help="synthesis iterations / reconstruction steps (10 / 20)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.iters:
        ITERS[args.command] = args.iters
    names = args.variants.split(",")
    envs = {name: clean_env(variant_env(name)) for name in names}
    alone: dict[str, list[float]] = {name: [] for name in names}
    pair: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_together(1, envs[names[0]], args.command, root)  # warm the page cache
        for _ in range(args.repeats):  # variants interleaved, so drift of the machine hits all alike
            for name in names:
                alone[name] += run_together(1, envs[name], args.command, root)
                pair[name] += run_together(2, envs[name], args.command, root)
    rows = []
    for name in names:
        row = {"variant": name, "env": variant_env(name), "alone_s": round(statistics.median(alone[name]), 2),
               "pair_s": round(statistics.median(pair[name]), 2), "alone_all": [round(t, 2) for t in alone[name]],
               "pair_all": [round(t, 2) for t in pair[name]]}
        row["slowdown"] = round(row["pair_s"] / row["alone_s"], 2)
        rows.append(row)
        print(f"{name:8s} alone {row['alone_s']:6.2f} s   pair {row['pair_s']:6.2f} s   x{row['slowdown']:.2f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"command": command(Path("OUT"), args.command)[2:], "cpus": os.cpu_count(), "repeats": args.repeats,
                                         "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
