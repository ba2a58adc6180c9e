"""RESULTS.md's tables of the CIFAR-10 school ablations, read from committed results.csv files: each ablation's own
rows beside the same requests measured in other recipes (the shared `lis-all` / `lis-uniform` baselines, the
main recipe's `real`).

    python3 benchmarks/cifar10_school_tables.py outside    # an outside ResNet in the school (all sampler)
    python3 benchmarks/cifar10_school_tables.py student    # the student in every schedule (uniform sampler, k 2)

BRECQ top-1 %, mean ± std over the seeds present (n is printed where fewer than 3). Where a column has several
sources, the first that holds a cell gives it.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "results"
STUDENTS = ("mobilenetv2_050.cifar10", "resnet20a.cifar10", "resnet32a.cifar10")

# table -> columns: (heading, results.csv, generator, settings it is read for (None: all))
TABLES = {
    "outside": [
        ("real", "cifar10", "real", None),
        ("lis-all", "ablations/cifar10-outside-teacher", "lis-all", None),  # its own baseline cells, 1 thread
        ("lis-all", "ablations/cifar10-samplers", "lis-all", {"W3A3", "W2A4"}),  # the same requests (equal cells)
        ("lis-all", "ablations/cifar10-w4a4-gap", "lis-all", {"W4A4"}),  # ran at 2 threads: read only if missing
        ("lis-all+resnet20a", "ablations/cifar10-outside-teacher", "lis-all+resnet20a", None),
        ("lis-all+resnet32a", "ablations/cifar10-outside-teacher", "lis-all+resnet32a", None),
    ],
    "student": [
        ("real", "cifar10", "real", None),
        ("lis-uniform", "ablations/cifar10-student-teacher", "lis-uniform", None),
        ("lis-uniform+resnet20a", "ablations/cifar10-student-teacher", "lis-uniform+resnet20a", None),
        ("lis-uniform+resnet32a", "ablations/cifar10-student-teacher", "lis-uniform+resnet32a", None),
        ("lis-all+self", "ablations/cifar10-outside-teacher", "lis-all+resnet20a", None),  # resnet20a's own row
    ],
}


def read(table: str) -> tuple[list[str], dict]:
    cells: dict = defaultdict(dict)
    heads: list[str] = []
    for head, where, gen, settings in TABLES[table]:
        heads += [] if head in heads else [head]
        path = RES / where / "results.csv"
        if not path.is_file():
            continue
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                setting = f"W{r['w_bits']}A{r['a_bits']}"
                if r["generator"] == gen and r["method"] == "brecq" and (settings is None or setting in settings):
                    cells[(head, r["student"], setting)].setdefault(int(r["seed"]), 100 * float(r["top1"]))
    return heads, cells


def fmt(by_seed: dict) -> str:
    values = [by_seed[s] for s in sorted(by_seed)]
    if not values:
        return "-"
    text = f"{statistics.mean(values):.2f}" + (f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else "")
    return text + (f" (n {len(values)})" if len(values) < 3 else "")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("table", choices=sorted(TABLES))
    args = p.parse_args(argv)
    heads, cells = read(args.table)
    if args.table == "student":  # lis-all+self is resnet20a's row only; resnet32a's own is in the other column
        cells.update({("lis-all+self", "resnet32a.cifar10", s): v for (h, st, s), v in read("outside")[1].items()
                      if h == "lis-all+resnet32a" and st == "resnet32a.cifar10"})
        students = STUDENTS[1:]
    else:
        students = STUDENTS
    settings = ("W4A4", "W2A4") if args.table == "student" else ("W4A4", "W3A3", "W2A4")
    print("| student | setting | " + " | ".join(heads) + " | gap to real |")
    print("|---" * (len(heads) + 3) + "|")
    for student in students:
        for setting in settings:
            row = [fmt(cells.get((h, student, setting), {})) for h in heads]
            real = cells.get(("real", student, setting), {})
            gaps = []
            for h in heads[1:]:
                got = cells.get((h, student, setting), {})
                if real and got:
                    gaps.append(f"{statistics.mean(real.values()) - statistics.mean(got.values()):.2f}")
            print(f"| {student.split('.')[0]} | {setting} | " + " | ".join(row) + f" | {' / '.join(gaps)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
