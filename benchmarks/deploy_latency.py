"""A quantized model in ONNX Runtime on CPU against the float export of the same model (issue 12, item 6).

Exports the QDIR (Q/DQ graph) and its float model, then reports:
- agreement: top-1 of ONNX Runtime vs lisq's simulation on the evaluation images, and each one's top-1;
- latency: median of --runs timed runs at batch 1 and 16 for the float graph, the Q/DQ graph with
  ONNX Runtime's default kernels, and with its exact int8 kernels (session.x64quantprecision, which
  lisq's --verify uses: on AVX2 CPUs without VNNI the default u8 x s8 kernels saturate);
- which ops ONNX Runtime actually runs in int8 after its graph optimisations (the op-type histogram of
  the optimised Q/DQ graph: QLinearConv/ConvInteger/MatMulInteger are integer, Conv/Mul/... float).

    python benchmarks/deploy_latency.py --qdir runs/in-lite/l2_w8a8 --val ../shared/data/imagenet-sample \
        --split val-eval --threads 1 --json results/imagenet-lite/deploy.json
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def session(path: Path, threads: int, exact: bool, optimized_out: Path | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if exact:
        options.add_session_config_entry("session.x64quantprecision", "1")
    if optimized_out is not None:
        options.optimized_model_filepath = str(optimized_out)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def latency_ms(sess, x: np.ndarray, runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        sess.run(["logits"], {"input": x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(["logits"], {"input": x})
        times.append(time.perf_counter() - t0)
    return round(1000 * statistics.median(times), 2)


def op_histogram(path: Path) -> dict[str, int]:
    import onnx

    return dict(collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node).most_common())


def export_float(model: torch.nn.Module, shape: tuple[int, ...], path: Path) -> None:
    import warnings

    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, *shape),), str(path), dynamo=False, opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qdir", required=True)
    ap.add_argument("--val", default=None, help="labelled images (default: the dataset's evaluation split)")
    ap.add_argument("--split", default=None, help="with --val: val-eval / val-calib picks that part")
    ap.add_argument("--limit", type=int, default=None, help="agreement on the first N evaluation images only")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from lisq.data import get_dataset
    from lisq.data.registry import evaluation_source
    from lisq.export import export_onnx, onnx_logits
    from lisq.models.resolve import resolve_model
    from lisq.quant import load_quantized
    from lisq.quant.qdir import input_spec_of

    qmodel, meta = load_quantized(args.qdir)
    spec = input_spec_of(meta)
    ds = get_dataset(spec.dataset)
    source = evaluation_source(ds, args.split, args.val)
    n = min(args.limit or len(source), len(source))
    out: dict = {"qdir": str(args.qdir), "model": meta["model"], "quant": meta["quant"], "threads": args.threads,
                 "runs": args.runs, "n": n, "input": list(spec.shape)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        qpath, fpath = tmp / "q.onnx", tmp / "float.onnx"
        export_onnx(qmodel, qpath, spec.shape)
        fmodel, _ = resolve_model(meta["model"], dataset=spec.dataset)
        export_float(fmodel, spec.shape, fpath)
        out["onnx_mb"] = {"qdq": round(qpath.stat().st_size / 2**20, 2), "float": round(fpath.stat().st_size / 2**20, 2)}

        # agreement on the evaluation images, in chunks (the inputs of 750 images at 260 px are 0.6 GB)
        agree = sim_hits = ort_hits = fp_hits = 0
        for start in range(0, n, 50):
            idx = torch.arange(start, min(start + 50, n))
            x, y = source.inputs(idx, spec), source.labels[idx]
            with torch.no_grad():
                sim, fp = qmodel(x).argmax(1), fmodel(x).argmax(1)
            ort = onnx_logits(qpath, x).argmax(1)
            agree += int((sim == ort).sum())
            sim_hits, ort_hits, fp_hits = sim_hits + int((sim == y).sum()), ort_hits + int((ort == y).sum()), fp_hits + int((fp == y).sum())
        out["agreement_onnxruntime_vs_lisq"] = round(agree / n, 4)
        out["top1"] = {"float": round(fp_hits / n, 4), "lisq": round(sim_hits / n, 4), "onnxruntime": round(ort_hits / n, 4)}

        optimized = tmp / "q.optimized.onnx"
        sessions = {"float": session(fpath, args.threads, False), "qdq-default": session(qpath, args.threads, False, optimized),
                    "qdq-exact": session(qpath, args.threads, True)}
        out["ops_after_ort_optimisation"] = op_histogram(optimized)
        out["ops_float_graph"] = op_histogram(fpath)
        out["latency_ms"] = {}
        for batch in (1, 16):
            x = np.random.default_rng(0).standard_normal((batch, *spec.shape)).astype(np.float32)
            out["latency_ms"][f"batch{batch}"] = {name: latency_ms(s, x, args.runs) for name, s in sessions.items()}
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
