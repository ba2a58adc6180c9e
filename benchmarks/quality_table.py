"""Markdown table of `lisq inspect --json` outputs: one row per dataset, fidelity / BN distance / diversity / Frechet per judge.

    python benchmarks/quality_table.py runs/synth/*.quality.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(paths: list[str]) -> None:
    reports = [json.loads(Path(p).read_text().strip().splitlines()[-1]) for p in paths]
    judges = list(reports[0]["judges"])
    head = "| data | n | " + " | ".join(f"{j} fid / BN / div / FD" for j in judges) + " | mean fid | mean BN |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in reports:
        cells, fids, bns = [], [], []
        for j in judges:
            e = r["judges"][j]
            fids.append(e["fidelity"])
            bns.append(e["bn_distance"])
            cells.append(f"{e['fidelity']:.3f} / {e['bn_distance']:.3f} / {e['diversity']['overall']:.3f} / {e.get('frechet', float('nan')):.1f}")
        name = Path(r["dir"]).name
        print(f"| {name} | {r['n']} | " + " | ".join(cells) + f" | {sum(fids) / len(fids):.3f} | {sum(bns) / len(bns):.3f} |")
    ref = reports[0]["judges"]
    if all("real_reference" in ref[j] for j in judges):
        cells = [f"{ref[j]['real_reference']['fidelity']:.3f} / {ref[j]['real_reference']['bn_distance']:.3f} / "
                 f"{ref[j]['real_reference']['diversity']:.3f} / 0" for j in judges]
        print(f"| real test (reference) | {ref[judges[0]]['real_reference']['n']} | " + " | ".join(cells) + " | | |")


if __name__ == "__main__":
    main(sys.argv[1:])
