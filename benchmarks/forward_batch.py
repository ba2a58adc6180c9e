"""Milliseconds per image of a model's forward pass on CPU against the batch size: why lisq evaluates in
cache-sized pieces (lisq.metrics.accuracy.CPU_FORWARD_PIXELS).

    python benchmarks/forward_batch.py --models effnet:lite2,resnet20.cifar10,mobilenetv2_100.cifar10 \
        --batches 1,4,16,64,256 --threads 1,2 --json results/runtime/forward_batch.json

    python benchmarks/forward_batch.py --qdirs results/imagenet-lite/work/gaussian/s0/effnet:lite2/brecq-W6A6 \
        --batches 1,4,16 --threads 1 --kernels torch,lisq --json results/runtime/forward_batch_quantized.json

Random inputs at each model's own size; one warm-up pass, then at least --images images per setting.
`--qdirs`: quantized models (QDIRs), with `--kernels` the fixed-step quantizers' inference path: `lisq`
(in-place passes, the default) or `torch` (torch.fake_quantize_*, lisq before this benchmark's commit).
Not a test: the figures depend on the machine's caches and on what else runs (stop other jobs first).
"""

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from lisq.metrics.accuracy import CPU_FORWARD_PIXELS
from lisq.models.checkpoint import atomic_write
from lisq.models.resolve import resolve_model
from lisq.quant.qdir import input_spec_of, load_quantized
from lisq.quant.quantizer import FakeQuantizer

LISQ_FIXED = FakeQuantizer.fused_forward


def TORCH_FIXED(self, x):  # noqa: N802 - the inference path lisq had before: torch's fused kernels
    zero_point = self.zero_point.round().to(torch.int32)
    if self.per_channel:
        return torch.fake_quantize_per_channel_affine(x, self.scale.detach(), zero_point, self.channel_axis,
                                                      self.qmin, self.qmax)
    return torch.fake_quantize_per_tensor_affine(x, float(self.scale), int(zero_point), self.qmin, self.qmax)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="", help="comma-separated model references")
    p.add_argument("--qdirs", default="", help="comma-separated QDIRs (quantized models)")
    p.add_argument("--kernels", default="lisq", help="for --qdirs: lisq, torch or both (comma-separated)")
    p.add_argument("--batches", default="1,4,16,64,256")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--images", type=int, default=32, help="images timed per setting (at least one batch)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    rows = []
    runs = [(ref, None) for ref in filter(None, args.models.split(","))]
    runs += [(qdir, kernel) for qdir in filter(None, args.qdirs.split(",")) for kernel in args.kernels.split(",")]
    for ref, kernel in runs:
        if kernel is None:
            model, spec = resolve_model(ref)
        else:
            model, meta = load_quantized(ref)
            spec = input_spec_of(meta)
            FakeQuantizer.fused_forward = TORCH_FIXED if kernel == "torch" else LISQ_FIXED
        model.eval()
        size = spec.size
        for threads in map(int, args.threads.split(",")):
            torch.set_num_threads(threads)
            for bs in map(int, args.batches.split(",")):
                x = torch.randn(bs, spec.channels, size, size)
                reps = max(1, -(-args.images // bs))
                with torch.no_grad():
                    model(x[:1])
                    start = time.perf_counter()
                    for _ in range(reps):
                        model(x)
                    ms = (time.perf_counter() - start) / (reps * bs) * 1000
                rows.append({"model": ref, "kernel": kernel, "size": size, "threads": threads, "batch": bs, "ms_per_image": round(ms, 2),
                             "lisq_batch": max(1, CPU_FORWARD_PIXELS // (size * size))})
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        out = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "rows": rows}
        atomic_write(args.json, lambda tmp: Path(tmp).write_text(json.dumps(out, indent=1) + "\n"))


if __name__ == "__main__":
    main()
