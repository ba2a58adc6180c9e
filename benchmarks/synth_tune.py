"""Small tuning sweeps for the inversion settings: synthesize a few batches per setting, score on judges.

    python benchmarks/synth_tune.py --generator deepinversion --teachers resnet20 --judges mobilenetv2_100 \
        --num-images 64 --grid iters=200,400 a_bn=10,30

Each grid point writes to OUT/<name> and prints one JSON line (fidelity and BN distance per judge, seconds).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import torch

from lisq.data import SyntheticDataset
from lisq.metrics.quality import bn_distance, fidelity, judge_from_reference, judge_outputs
from lisq.school import SynthConfig, synthesize


def parse_grid(items: list[str]) -> list[dict]:
    axes = []
    for item in items:
        key, _, values = item.partition("=")
        axes.append([(key, _cast(v)) for v in values.split(",")])
    return [dict(point) for point in itertools.product(*axes)] if axes else [{}]


def _cast(value: str):
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default="lis")
    p.add_argument("--teachers", default=None)
    p.add_argument("--school", default=None)
    p.add_argument("--judges", required=True)
    p.add_argument("--num-images", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="/tmp/lisq_tune")
    p.add_argument("--grid", nargs="*", default=[], help="key=v1,v2 ... (SynthConfig fields)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    judges = [judge_from_reference(j) for j in args.judges.split(",")]
    for point in parse_grid(args.grid):
        name = args.generator + "".join(f"_{k}{v}" for k, v in point.items())
        cfg = SynthConfig(generator=args.generator, num_images=args.num_images, seed=args.seed, **{"speed": "full", **point})
        t0 = time.time()
        synthesize(Path(args.out) / name, cfg, teachers=args.teachers, school=args.school, overwrite=True, quiet=True)
        seconds = time.time() - t0
        data = SyntheticDataset(Path(args.out) / name)
        scores = {}
        for judge in judges:
            out = judge_outputs(judge, data.pixels())
            scores[judge.name] = {"fidelity": round(fidelity(out["logits"], data.labels), 4),
                                  "bn_distance": round(bn_distance(out["bn_moments"]), 4)}
        print(json.dumps({"setting": point, "generator": args.generator, "teachers": args.teachers or args.school,
                          "n": len(data), "seconds": round(seconds, 1), "judges": scores}), flush=True)


if __name__ == "__main__":
    main()
