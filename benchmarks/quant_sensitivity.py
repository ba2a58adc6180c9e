"""Where does a quantized model lose accuracy? One layer at a time, weights-only vs activations-only.

    PYTHONPATH=src python benchmarks/quant_sensitivity.py --model resnet20 --w-bits 4 --a-bits 4 \
        --num-samples 256 --test 2000 --threads 1

Plain calibration (`--init`, default mse) of the whole model, then top-1 on the first `--test` test
images with: everything float; only one layer's weight quantizer on; only one layer's input quantizer
on; all weights; all activations; everything. Also prints, per input quantizer, the observed range,
the fraction of negative inputs, the spread of per-channel ranges (max / median) and the chosen grid.
"""

import argparse
import json

import torch

from lisq.data import FASHION_MNIST_NORM, TensorBatches, load_fashion_mnist
from lisq.metrics import evaluate
from lisq.models.resolve import build_model
from lisq.quant import QuantConfig
from lisq.quant.calib import calibrate
from lisq.quant.data import calibration_inputs
from lisq.quant.modules import quant_layers
from lisq.quant.prepare import prepare_model
from lisq.quant.quantizer import quantizers, set_quant_state


def input_stats(qmodel, calib) -> dict[str, dict]:
    stats, handles = {}, []
    for name, layer in quant_layers(qmodel):
        def hook(_m, args, name=name):
            x = args[0].detach()
            per_ch = x.transpose(0, 1).flatten(1) if x.dim() > 2 else x.t()
            span = per_ch.amax(1) - per_ch.amin(1)
            stats[name] = {
                "lo": round(float(x.min()), 3), "hi": round(float(x.max()), 3),
                "neg_frac": round(float((x < 0).float().mean()), 3),
                "ch_spread": round(float(span.max() / span.median().clamp(min=1e-8)), 1),
            }
        handles.append(layer.register_forward_pre_hook(hook))
    with torch.no_grad():
        set_quant_state(qmodel, weights=False, activations=False)
        qmodel(calib)
    for h in handles:
        h.remove()
    return stats


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--weights", default=None)
    p.add_argument("--w-bits", type=int, default=4)
    p.add_argument("--a-bits", type=int, default=4)
    p.add_argument("--init", default="mse")
    p.add_argument("--data", default="real")
    p.add_argument("--num-samples", type=int, default=256)
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    fields = {"method": args.init, "w_bits": args.w_bits, "a_bits": args.a_bits}
    for item in args.set:
        key, _, value = item.partition("=")
        fields[key] = json.loads(value)
    config = QuantConfig(**fields)
    model = build_model(args.model, args.weights).eval()
    images, labels = load_fashion_mnist("test")
    test = TensorBatches(images[: args.test], labels[: args.test], FASHION_MNIST_NORM, 500)
    calib = calibration_inputs(args.data, args.num_samples, 0)
    qmodel, report = prepare_model(model, config, calib[:1], warn=False)
    print("folded:", len(report.folded), "float layers:", report.float_layers)
    stats = input_stats(qmodel, calib)
    calibrate(qmodel, calib, args.init, config.mse_p)

    def top1() -> float:
        return round(100 * evaluate(qmodel, test)["top1"], 2)

    set_quant_state(qmodel, weights=False, activations=False)
    print(f"float {top1()}")
    set_quant_state(qmodel, weights=True, activations=False)
    print(f"all weights {top1()}")
    set_quant_state(qmodel, weights=False, activations=True)
    print(f"all activations {top1()}")
    set_quant_state(qmodel, weights=True, activations=True)
    print(f"all {top1()}")
    print(f"{'layer':34s} {'bits':6s} {'w-only':>7s} {'a-only':>7s}  input stats / grid")
    for name, layer in quant_layers(qmodel):
        for _, q in quantizers(qmodel):
            q.enabled = False
        layer.weight_quantizer.enabled = True
        w_only = top1()
        layer.weight_quantizer.enabled = False
        layer.input_quantizer.enabled = True
        a_only = top1()
        q = layer.input_quantizer
        grid = f"s={float(q.scale):.4f} z={int(q.zero_point)} [{(q.qmin - float(q.zero_point)) * float(q.scale):.3f}, " \
               f"{(q.qmax - float(q.zero_point)) * float(q.scale):.3f}]"
        bits = f"W{layer.bits[0]}A{layer.bits[1]}"
        print(f"{name:34s} {bits:6s} {w_only:7.2f} {a_only:7.2f}  {stats[name]} {grid}")


if __name__ == "__main__":
    main()
