"""What one BRECQ reconstruction costs, and where: range init, data capture, the optimisation steps.

    python benchmarks/brecq_speed.py --model effnet:lite2 --dataset imagenet \
        --data results/imagenet-lite/data/lis-s0 --num-samples 32 --iters 10 --threads 1 \
        --variants before,chain,chain+fused,default --json results/imagenet-lite/speed/brecq_speed.json

Variants (the same model, data and seed each):
  before       every block's data captured by re-running the model up to it; LSQ steps written out op by
               op (`fake_quantize` with a straight-through round) and QDrop drawn as floats: lisq until
               this benchmark's commit;
  chain        chained blocks take the previous block's outputs (lisq.quant.brecq.chained_blocks);
  chain+fused  and the fused LSQ kernel with a byte-drawn QDrop mask;
  default      and each step's batch in cache-sized pieces on CPU (lisq.quant.brecq.CPU_STEP_ELEMENTS).
`before` and `chain` give identical weights (checked here); the later variants differ in the last float
bits of the step gradients and in the QDrop draws. Not a test: numbers depend on the machine and its load.
"""

import argparse
import contextlib
import json
import resource
import shlex
import sys
import time
from pathlib import Path

import torch

import lisq.quant.brecq as brecq
from lisq.data import get_dataset
from lisq.models.checkpoint import atomic_write
from lisq.models.resolve import build_model, model_input
from lisq.quant import QuantConfig, quantize
from lisq.quant.data import calibration_inputs
from lisq.quant.quantizer import FakeQuantizer, fake_quantize

VARIANTS = ("before", "chain", "chain+fused", "default")


def _composed_learned_forward(self, x):
    scale, zero_point = self.qparams(x)
    return fake_quantize(x, scale, zero_point, self.qmin, self.qmax)


def _float_mask(x, prob):
    return torch.rand_like(x) < prob


@contextlib.contextmanager
def variant(name: str, timings: dict):
    """Patch lisq into the variant's code paths and time capture (`capture` + `run_block`) on the way."""
    saved = (brecq.capture, brecq.run_block, brecq.reconstruct, FakeQuantizer.learned_forward)
    saved_elements = brecq.CPU_STEP_ELEMENTS
    import lisq.quant.quantizer as quantizer

    saved_mask = quantizer.qdrop_mask

    def timed(fn):
        def wrapper(*a, **k):
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timings["capture_s"] += time.perf_counter() - start
        return wrapper

    def reconstruct(*a, **k):
        start = time.perf_counter()
        try:
            return saved[2](*a, **k, chain=name != "before")
        finally:
            timings["reconstruct_s"] += time.perf_counter() - start

    brecq.capture, brecq.run_block = timed(saved[0]), timed(saved[1])
    import lisq.quant.api as api

    api.reconstruct = reconstruct
    if name in ("before", "chain"):
        FakeQuantizer.learned_forward = _composed_learned_forward
        quantizer.qdrop_mask = _float_mask
    if name != "default":
        brecq.CPU_STEP_ELEMENTS = 1 << 62  # the whole batch in one piece
    try:
        yield
    finally:
        brecq.capture, brecq.run_block, _, FakeQuantizer.learned_forward = saved
        api.reconstruct = saved[2]
        quantizer.qdrop_mask = saved_mask
        brecq.CPU_STEP_ELEMENTS = saved_elements


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", default=None)
    p.add_argument("--data", default="gaussian", help="'gaussian', 'real' or a synthesized directory")
    p.add_argument("--num-samples", type=int, default=32)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--w-bits", type=int, default=4)
    p.add_argument("--a-bits", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--json", default=None)
    args = p.parse_args()
    names = args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        sys.exit(f"error: unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    torch.set_num_threads(args.threads)
    spec = model_input(args.model, None, args.dataset, None)
    ds = get_dataset(args.dataset or spec.dataset)
    model = build_model(args.model, None, spec, dataset=args.dataset).eval()
    calib = calibration_inputs(args.data, args.num_samples, 0, spec, ds)
    config = QuantConfig(method="brecq", w_bits=args.w_bits, a_bits=args.a_bits, iters=args.iters,
                         batch_size=args.batch_size, round_lr=0.01)
    rows, states = [], {}
    for name in names:
        timings = {"capture_s": 0.0, "reconstruct_s": 0.0}
        with variant(name, timings):
            start = time.perf_counter()
            qmodel = quantize(model, calib, config)
            total = time.perf_counter() - start
        blocks = qmodel.lisq_info["blocks"]
        links = brecq.chained_blocks(qmodel, blocks, calib[:1])
        states[name] = qmodel.state_dict()
        rows.append({"variant": name, "seconds": round(total, 1), "capture_s": round(timings["capture_s"], 1),
                     "steps_s": round(timings["reconstruct_s"] - timings["capture_s"], 1),
                     "init_s": round(total - timings["reconstruct_s"], 1),
                     "blocks": len(blocks), "chained_blocks": sum(links)})
        print(json.dumps(rows[-1]), flush=True)
    if "before" in states and "chain" in states:
        same = all(torch.equal(v, states["chain"][k]) for k, v in states["before"].items())
        rows.append({"before_equals_chain": same})
        print(json.dumps(rows[-1]))
    out = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "threads": args.threads,
           "model": args.model, "num_samples": len(calib), "iters": args.iters,
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "rows": rows}
    if args.json:
        atomic_write(args.json, lambda tmp: Path(tmp).write_text(json.dumps(out, indent=1) + "\n"))


if __name__ == "__main__":
    main()
