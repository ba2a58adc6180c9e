"""Pool the ablation recipes: one row per dataset (section-10 metrics beside W2A4 top-1 per held-out student),
then the Spearman rank correlation of each metric with accuracy over all of them. Which metric predicts the
quantization benefit of calibration data?

    python benchmarks/ablation_summary.py results/ablations/*/ > results/ablations/summary.md
"""

from __future__ import annotations

import sys
from pathlib import Path

from lisq.bench.report import pooled_quality_table


def main(outs: list[str]) -> None:
    dirs = [Path(o) for o in outs if (Path(o) / "results.csv").is_file()]
    if not dirs:
        sys.exit("ablation_summary: no results.csv under the given directories; run `lisq bench --config "
                 "configs/ablations/NAME.yaml` first")
    print("# Ablations pooled\n\nTest top-1 (%) on the real test split; metrics are means over the judges. Made by\n"
          f"`python benchmarks/ablation_summary.py {' '.join(outs)}`.\n")
    print(pooled_quality_table(dirs))


if __name__ == "__main__":
    main(sys.argv[1:])
