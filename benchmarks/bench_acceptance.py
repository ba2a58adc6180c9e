"""The bench acceptance checks of issues 5 (Fashion-MNIST) and 13 (CIFAR-10) on a results.csv (means over
seeds), one line per check.

    python benchmarks/bench_acceptance.py results/fmnist/results.csv [--lis lis-hierarchical]
    python benchmarks/bench_acceptance.py results/cifar10/results.csv --w4a4-gap 1.0     # issue 13's bar

1. LIS, BRECQ W4A4: within 1.5 pt (`--w4a4-gap`) of real-data calibration on every student.
2. LIS above the best single-teacher inversion (zeroq, deepinversion) on the held-out students' mean,
   at BRECQ W2A4 and W3A3.
3. LIS above Gaussian noise in every BRECQ W3A3 / W2A4 cell (student x setting, mean over seeds).
Prints PASS / FAIL / MISSING per check with the numbers, and the seeds each mean is over.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from collections import defaultdict

SINGLE = ("zeroq", "deepinversion")


def load(path: str) -> tuple[dict, dict]:
    """(generator, student, 'brecq W4A4') -> [top-1 % per seed]; student -> held_out."""
    cells, held = defaultdict(list), {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            cells[(r["generator"], r["student"], f"{r['method']} W{r['w_bits']}A{r['a_bits']}")].append(100 * float(r["top1"]))
            held[r["student"]] = r["held_out"] == "true"
    return cells, held


def mean(cells: dict, key: tuple) -> tuple[float | None, int]:
    values = cells.get(key, [])
    return (statistics.mean(values), len(values)) if values else (None, 0)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("csv")
    p.add_argument("--lis", default="lis-hierarchical", help="the LIS generator's label in the csv")
    p.add_argument("--w4a4-gap", type=float, default=1.5, help="largest allowed W4A4 shortfall of LIS under real data, pt")
    args = p.parse_args()
    cells, held = load(args.csv)
    students = list(held)
    verdicts = []

    def report(name: str, ok: bool | None, detail: str) -> None:
        verdicts.append(ok)
        print(f"{'MISSING' if ok is None else 'PASS' if ok else 'FAIL':7} {name}: {detail}")

    for st in students:
        lis, n1 = mean(cells, (args.lis, st, "brecq W4A4"))
        real, n2 = mean(cells, ("real", st, "brecq W4A4"))
        ok = None if lis is None or real is None else real - lis <= args.w4a4_gap
        report(f"W4A4 LIS within {args.w4a4_gap} pt of real on {st}", ok,
               "-" if ok is None else f"lis {lis:.2f} (n={n1}) vs real {real:.2f} (n={n2}): gap {real - lis:+.2f}")
    out = [s for s in students if held[s]]
    for setting in ("brecq W2A4", "brecq W3A3"):
        lis_vals = [mean(cells, (args.lis, s, setting))[0] for s in out]
        best, best_name = None, None
        for g in SINGLE:
            vals = [mean(cells, (g, s, setting))[0] for s in out]
            if out and all(v is not None for v in vals):
                m = statistics.mean(vals)
                if best is None or m > best:
                    best, best_name = m, g
        lis_m = statistics.mean(lis_vals) if out and all(v is not None for v in lis_vals) else None
        ok = None if lis_m is None or best is None else lis_m > best
        report(f"{setting} LIS above best single-teacher inversion, held-out mean ({', '.join(out)})", ok,
               "-" if ok is None else f"lis {lis_m:.2f} vs {best_name} {best:.2f}")
    for setting in ("brecq W3A3", "brecq W2A4"):
        for st in students:
            lis, n1 = mean(cells, (args.lis, st, setting))
            gau, n2 = mean(cells, ("gaussian", st, setting))
            ok = None if lis is None or gau is None else lis > gau
            report(f"{setting} LIS above gaussian on {st}", ok,
                   "-" if ok is None else f"lis {lis:.2f} (n={n1}) vs gaussian {gau:.2f} (n={n2})")
    print(f"{sum(v is True for v in verdicts)} pass, {sum(v is False for v in verdicts)} fail, "
          f"{sum(v is None for v in verdicts)} missing")
    return 0 if all(v is True for v in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
