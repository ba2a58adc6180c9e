"""Synthesis speed settings side by side (issue 14, item 4): the current loop, each change alone, all together.

Each variant synthesizes the same images (same school, seed, size, iterations) into its own directory and
reports wall seconds and image-iterations/s; the ceiling (plain forward + backward of the same teachers)
comes from `synth_bench.py overhead`. The downstream check (BRECQ on a held-out student with each set)
reads the directories this writes: they are kept under --out.

    python benchmarks/synth_speed.py --school configs/school_imagenet_lite.yaml --num-images 32 --batch-size 32 \
        --iters 100 --threads 2 --out runs/speed/imagenet --json results/imagenet-lite/speed/synth_speed.json
    python benchmarks/synth_speed.py --dataset fmnist --num-images 256 --batch-size 128 --iters 150 --out runs/speed/fmnist

Variants (comma list, --variants): default (the `full` speed preset), channels_last, lowres (the first half of
the iterations at half size), early_stop (window 20, tol 0.005), all; lowres75 and all75 run the first three
quarters at half size; fast is the `fast` preset (= all75); r75f15 and r75f25 restart the learning rate for a
fixed full-size finish (lowres_restart); k1r5, k1r5l50 and k1r1l50 draw one teacher per step (k = 1, redrawn
every 5 or every iteration), the last two with the first half at half size. Run on otherwise idle cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

# every variant is the `full` speed preset (the loop before issue 14) plus its changes; `fast` is the preset
# itself, the same settings as all75
_VARIANTS = {
    "default": {},
    "channels_last": {"channels_last": True},
    "lowres": {"lowres_iters": "half", "lowres_scale": 0.5},
    "early_stop": {"stop_window": 20, "stop_tol": 0.005},
    "all": {"channels_last": True, "lowres_iters": "half", "lowres_scale": 0.5, "stop_window": 20, "stop_tol": 0.005},
    # a third of today's time at 224-260 px needs more of the run at low resolution (estimate: 0.25 x 3/4 + 1/4
    # of the compute, then channels_last's 1.3x): the three-quarter schedule, alone and with the rest
    "lowres75": {"lowres_iters": "3/4", "lowres_scale": 0.5},
    "all75": {"channels_last": True, "lowres_iters": "3/4", "lowres_scale": 0.5, "stop_window": 20, "stop_tol": 0.005},
    # fast's early stop ends a batch 5 iterations after the switch (the upsampling raises the loss), so on
    # ImageNet it is 3/4 of the run at half size and almost no full-size finish. These give the finish its own
    # schedule (lowres_restart: the learning rate starts again at the switch) and a fixed length instead:
    # 3/4 of --iters at half size, then 15 % (r75f15, 0.9 x --iters in all) or 25 % (r75f25) at full size
    "r75f15": {"channels_last": True, "iters": "9/10", "lowres_iters": "3/4", "lowres_scale": 0.5, "lowres_restart": True},
    "r75f25": {"channels_last": True, "lowres_iters": "3/4", "lowres_scale": 0.5, "lowres_restart": True},
    # one teacher per step instead of k = 2: about half the teacher passes, and still every course over a batch
    # (a fresh draw every 5 or every iteration); with the first half at half size (restart at the switch)
    "k1r5": {"channels_last": True, "k": 1, "resample_every": 5},
    "k1r5l50": {"channels_last": True, "k": 1, "resample_every": 5, "lowres_iters": "half", "lowres_scale": 0.5,
                "lowres_restart": True},
    "k1r1l50": {"channels_last": True, "k": 1, "resample_every": 1, "lowres_iters": "half", "lowres_scale": 0.5,
                "lowres_restart": True},
}
VARIANTS = {name: {"speed": "full", **fields} for name, fields in _VARIANTS.items()} | {"fast": {"speed": "fast"}}
FRACTIONS = {"half": 0.5, "3/4": 0.75, "9/10": 0.9}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--school", default=None, help="school YAML (default: the dataset's shipped school)")
    ap.add_argument("--dataset", default=None)
    ap.add_argument("--generator", default="lis")
    ap.add_argument("--num-images", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import torch

    from lisq.school import SynthConfig, synthesize

    torch.set_num_threads(args.threads)
    # warm-up: load every teacher and allocate once, so the first variant does not pay for it
    synthesize(args.out / ".warmup", SynthConfig(generator=args.generator, num_images=args.batch_size,
               batch_size=args.batch_size, iters=2, k=args.k, seed=args.seed, dataset=args.dataset, speed="full"),
               school=args.school, overwrite=True, quiet=True)
    rows = []
    for name in args.variants.split(","):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
        fields = {k: (int(args.iters * FRACTIONS[v]) if v in FRACTIONS else v) for k, v in VARIANTS[name].items()}
        cfg = SynthConfig(generator=args.generator, num_images=args.num_images, batch_size=args.batch_size,
                          seed=args.seed, dataset=args.dataset, **{"iters": args.iters, "k": args.k, **fields})
        out = args.out / name
        start = time.perf_counter()
        summary = synthesize(out, cfg, school=args.school, resume=out.exists(), quiet=True)
        seconds = time.perf_counter() - start
        manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
        iters = [r.get("iters", cfg.iters) for r in manifest]
        row = {"variant": name, "settings": fields, "seconds": round(seconds, 1),
               "image_iters": summary["image_iters"], "image_iters_per_s": round(summary["image_iters"] / seconds, 2),
               "mean_iters_per_image": round(sum(iters) / len(iters), 1), "dir": str(out)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
