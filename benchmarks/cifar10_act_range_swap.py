"""Diagnostic: do a synthetic set's activation ranges explain its W4A4 gap to real data on a held-out student?

Synthetic images give the outside resnet20a's first block about 25 % narrower activation ranges than real ones
(MSE init on 256 images). This quantizes with BRECQ on the synthetic set but initialises every activation
quantizer from the real images (BRECQ then learns the steps on the synthetic set as usual). If the ranges were the
cause, the result would move from the synthetic set's top-1 to the real set's. A diagnostic that uses real data:
not a calibration method.

    python benchmarks/cifar10_act_range_swap.py --student resnet20a.cifar10 \
        --data results/cifar10/data/lis-hierarchical-s0 --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--student", default="resnet20a.cifar10")
    p.add_argument("--data", required=True, help="the synthetic set (directory of class folders)")
    p.add_argument("--num-images", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    import lisq.quant.api as api
    from lisq.data import get_dataset
    from lisq.metrics.accuracy import prediction_metrics, predictions
    from lisq.models.resolve import resolve_model
    from lisq.quant.config import QuantConfig
    from lisq.quant.data import calibration_inputs

    ds = get_dataset("cifar10")
    test = ds.split(ds.evaluation_split)
    model, spec = resolve_model(args.student, dataset="cifar10")
    real = calibration_inputs("real", args.num_images, args.seed, spec, ds)
    synthetic = calibration_inputs(args.data, args.num_images, args.seed, spec, ds)
    config = QuantConfig.from_dict({"method": "brecq", "w_bits": 4, "a_bits": 4, "iters": args.iters,
                                    "round_lr": 0.01, "seed": args.seed})
    init = api.init_act_quantizers
    api.init_act_quantizers = lambda qmodel, _calib, how, p_norm: init(qmodel, real, how, p_norm)
    try:
        qmodel = api.quantize(model, synthetic, config)
    finally:
        api.init_act_quantizers = init
    top1 = prediction_metrics(*predictions(qmodel, test.batches(spec, 500)))["top1"]
    print(json.dumps({"student": args.student, "data": args.data, "act_ranges_from": "real", "seed": args.seed,
                      "iters": args.iters, "top1": round(100 * top1, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
