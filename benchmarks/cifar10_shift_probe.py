"""Is the outside ResNets' W4A4 gap to real calibration data a shortfall of the synthetic data, or the test shift?

The outside ResNets (resnet20a/resnet32a) were trained on the original CIFAR-10 and are tested on its JPEG copy, a
shifted distribution for them (about 10 pt of top-1). The `real` calibration images come from that same copy, so they
carry the shift of the test split; no data-free set can. This probe builds the same situation on a model trained on
the copy (resnet20.cifar10, whose W4A4 gap to real is -0.05): re-encode the images as JPEG at quality `--quality`, so
that the test split is shifted for it, and calibrate BRECQ on (a) clean real train images, (b) the same images
re-encoded, (c) a synthetic set; each quantized model is evaluated on the clean and the re-encoded test split.
It runs the outside resnet20a the same way (its "clean" is already the copy).

    python benchmarks/cifar10_shift_probe.py --data results/cifar10/data/lis-hierarchical-s0 --threads 1 \
        --out results/ablations/cifar10-shift-probe.json

If the re-encoded real images (b) beat the clean ones (a) on the re-encoded test by about the outside ResNets' gap,
the bar "within 1 pt of real" measures the shift that real data share with the test split, not the synthetic data.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def reencode(pixels: torch.Tensor, quality: int) -> torch.Tensor:
    """[n, 3, H, W] float pixels in [0, 1] -> the same images after a JPEG round trip at `quality`."""
    out = torch.empty_like(pixels)
    arrays = (pixels.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for i, a in enumerate(arrays):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        decoded = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
        out[i] = torch.from_numpy(decoded).permute(2, 0, 1)
    return out


def top1(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    from lisq.metrics.accuracy import prediction_metrics, predictions

    batches = ((inputs[i:i + 500], labels[i:i + 500]) for i in range(0, len(labels), 500))
    return round(100 * prediction_metrics(*predictions(model, batches))["top1"], 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a synthetic set (directory of class folders) for calibration (c)")
    p.add_argument("--students", default="resnet20.cifar10,resnet20a.cifar10")
    p.add_argument("--quality", type=int, default=30, help="JPEG quality of the re-encoding (default 30)")
    p.add_argument("--num-images", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iters", type=int, default=100, help="BRECQ steps per block (the recipe's W4A4: 100)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from lisq.data import get_dataset
    from lisq.models.resolve import resolve_model
    from lisq.quant.api import quantize
    from lisq.quant.config import QuantConfig
    from lisq.quant.data import calibration_inputs

    ds = get_dataset("cifar10")
    test, train = ds.split(ds.evaluation_split), ds.split(ds.calibration_split)
    config = QuantConfig.from_dict({"method": "brecq", "w_bits": 4, "a_bits": 4, "iters": args.iters,
                                    "round_lr": 0.01, "seed": args.seed})
    results = {"quality": args.quality, "num_images": args.num_images, "seed": args.seed, "iters": args.iters,
               "synthetic": args.data, "students": {}}
    for name in args.students.split(","):
        model, spec = resolve_model(name, dataset="cifar10")
        everything = torch.arange(len(test))
        clean_px = test.pixels(everything, spec)
        shifted_px = reencode(clean_px, args.quality)
        tests = {"clean": spec.norm.normalize(clean_px), "reencoded": spec.norm.normalize(shifted_px)}
        picked = train.balanced_indices(args.num_images, args.seed)  # the bench's `real` images for this seed
        real_px = train.pixels(picked, spec)
        calibs = {"real": spec.norm.normalize(real_px),
                  "real-reencoded": spec.norm.normalize(reencode(real_px, args.quality)),
                  "synthetic": calibration_inputs(args.data, args.num_images, args.seed, spec, ds)}
        row = {"fp": {t: top1(model, x, test.labels) for t, x in tests.items()}}
        for cname, calib in calibs.items():
            start = time.time()
            qmodel = quantize(model, calib, config)
            row[cname] = {t: top1(qmodel, x, test.labels) for t, x in tests.items()}
            row[cname]["seconds"] = round(time.time() - start, 1)
            print(name, cname, row[cname], flush=True)
        results["students"][name] = row
        print(name, "fp", row["fp"], flush=True)
    text = json.dumps(results, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(args.out + ".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(args.out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
