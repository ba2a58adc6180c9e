"""Bytes a teacher keeps for backward at a given batch and resolution, computed on the meta device (no
compute, no memory): an upper bound (views are counted once per save) on the graph that synthesis holds
per scheduled teacher. With `--grad-per-teacher` one such graph is alive at a time, otherwise k.

    PYTHONPATH=src python benchmarks/activation_memory.py                      # ResNet-50, 64 x 3 x 224 x 224
    PYTHONPATH=src python benchmarks/activation_memory.py --model resnet20 --batch-size 64 --image-size 28 --channels 1
    PYTHONPATH=src python benchmarks/activation_memory.py --batch-size 4 --measure   # + peak RSS of one real CPU step,
                                                                                    #   joint vs per teacher
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))


def saved_bytes(model: torch.nn.Module, shape: tuple[int, ...], dtype: torch.dtype) -> int:
    """Saved-for-backward bytes of one teacher pass as synthesis runs it: frozen, eval, BN-moment hooks on."""
    from lisq.school.hooks import BNStatsRecorder

    model = model.to(device="meta", dtype=dtype).eval().requires_grad_(False)
    recorder = BNStatsRecorder(model)
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    x = torch.empty(shape, device="meta", dtype=dtype, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), recorder:
        model(x)
        recorder.bn_loss()
    return total


def _step_rss(model_fn, shape, teachers: int, per_teacher: bool, queue) -> None:
    """In a fresh process: one synthesis step (k frozen teachers, BN hooks, CE + BN loss); peak RSS growth in bytes."""
    import resource

    import torch.nn.functional as F

    from lisq.school.hooks import BNStatsRecorder

    torch.set_num_threads(1)
    models = [model_fn().eval().requires_grad_(False) for _ in range(teachers)]
    recorders = [BNStatsRecorder(m) for m in models]
    x = torch.randn(shape, requires_grad=True)
    labels = torch.arange(shape[0]) % 10
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total = 0.0
    for m, r in zip(models, recorders, strict=True):
        with r:
            logits = m(x)
        loss = F.cross_entropy(logits, labels) + r.bn_loss()
        if per_teacher:
            loss.backward()
        else:
            total = total + loss
    if not per_teacher:
        total.backward()
    queue.put((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024)


def measure(model_fn, shape, teachers: int) -> dict:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out = {}
    for per_teacher in (False, True):
        queue = ctx.Queue()
        proc = ctx.Process(target=_step_rss, args=(model_fn, shape, teachers, per_teacher, queue))
        proc.start()
        out["per_teacher" if per_teacher else "joint"] = round(queue.get() / 1e9, 2)
        proc.join()
    return out


def _resnet50(num_classes: int):
    from gpu_bench import BottleneckResNet

    return BottleneckResNet(num_classes=num_classes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a lisq model reference (default: a ResNet-50, benchmarks/gpu_bench.py)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--teachers", type=int, default=4, help="teachers scheduled together (k)")
    p.add_argument("--measure", action="store_true", help="also run one real fp32 step on the CPU and report peak RSS growth")
    args = p.parse_args()
    if args.model:
        from lisq.models.resolve import model_input, resolve_model

        overrides = {"num_classes": args.num_classes, "channels": args.channels, "size": args.image_size}
        model, _ = resolve_model(args.model, overrides={**model_input(args.model).to_dict(), **overrides, "mean": (0.5,), "std": (0.5,)})
    else:
        from gpu_bench import BottleneckResNet

        model = BottleneckResNet(num_classes=args.num_classes)
    params = sum(t.numel() for t in model.parameters())
    shape = (args.batch_size, args.channels, args.image_size, args.image_size)
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        graph = saved_bytes(model, shape, dtype)
        print(json.dumps({
            "model": args.model or "resnet50", "params": params, "input": list(shape), "dtype": name,
            "graph_gb_per_teacher": round(graph / 1e9, 2),
            f"graphs_gb_joint_k{args.teachers}": round(args.teachers * graph / 1e9, 2),
            "graphs_gb_grad_per_teacher": round(graph / 1e9, 2),
            f"weights_gb_k{args.teachers}": round(args.teachers * params * 4 / 1e9, 2),
        }))
    if args.measure:
        import functools

        if args.model:
            from lisq.models.resolve import build_model

            fn = functools.partial(build_model, args.model, None, args.num_classes, args.channels)
        else:
            fn = functools.partial(_resnet50, args.num_classes)
        rss = measure(fn, shape, args.teachers)
        print(json.dumps({"measured_cpu_fp32_peak_rss_growth_gb": rss, "input": list(shape), "teachers": args.teachers}))


if __name__ == "__main__":
    main()
