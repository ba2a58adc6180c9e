"""Milliseconds of the quantizer's elementwise paths on one activation tensor: what RESULTS.md quotes
for the fused LSQ kernel, the byte-drawn QDrop mask and the in-place fixed-step path.

    python benchmarks/quantizer_kernels.py --shape 16,96,130,130 --threads 1 \
        --json results/runtime/quantizer_kernels.json

Each path: one warm-up, then the median of --reps runs. Not a test: the figures depend on the machine.
"""

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

from lisq.models.checkpoint import atomic_write
from lisq.quant.quantizer import fake_quantize, fake_quantize_fixed, qdrop_mask, scale_grad


def timed(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="16,96,130,130")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(*map(int, args.shape.split(","))) * 2
    grad = torch.randn_like(x)
    zp, qmin, qmax, factor = torch.tensor(3.0), 0, 15, 1 / (x.numel() * 15) ** 0.5

    def lsq_composed():
        xa, s = x.clone().requires_grad_(True), torch.tensor(0.37, requires_grad=True)
        fake_quantize(xa, scale_grad(s, factor), zp, qmin, qmax).backward(grad)

    def lsq_fused():
        xa, s = x.clone().requires_grad_(True), torch.tensor([0.37], requires_grad=True)
        torch._fake_quantize_learnable_per_tensor_affine(xa, s, zp.reshape(1), qmin, qmax, factor).backward(grad)

    one = x[:1].contiguous()
    rows = {
        "lsq_forward_backward_composed_ms": timed(lsq_composed, args.reps),
        "lsq_forward_backward_fused_ms": timed(lsq_fused, args.reps),
        "qdrop_mask_float_ms": timed(lambda: torch.rand_like(x) < 0.5, args.reps),
        "qdrop_mask_byte_ms": timed(lambda: qdrop_mask(x, 0.5), args.reps),
        "fixed_torch_kernel_one_image_ms": timed(
            lambda: torch.fake_quantize_per_tensor_affine(one, 0.05, 7, 0, 255), args.reps),
        "fixed_in_place_one_image_ms": timed(
            lambda: fake_quantize_fixed(one, torch.tensor(0.05), torch.tensor(7.0), 0, 255), args.reps),
    }
    out = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "shape": list(x.shape),
           "threads": args.threads, **rows}
    print(json.dumps(out, indent=1))
    if args.json:
        atomic_write(args.json, lambda tmp: Path(tmp).write_text(json.dumps(out, indent=1) + "\n"))


if __name__ == "__main__":
    main()
