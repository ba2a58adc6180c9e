"""Speed of the device path (not a test): synthesis and BRECQ W4A4 for each amp x channels_last setting.

    python benchmarks/gpu_bench.py                          # CUDA: ResNet-50-sized nets, 224x224x3, 1000 classes
    python benchmarks/gpu_bench.py --tiny --device cpu      # anywhere, in seconds: same pipeline, a small net at 32x32
    python benchmarks/gpu_bench.py --amp off bf16 fp16 --jsonl out/gpu_bench.jsonl

Prints one JSON line per (amp, channels_last) row: synthesis iterations/s and images/s (LIS, `--teachers`
teachers of the same architecture, k = all of them, so one iteration = that many teacher passes), BRECQ
W4A4 reconstruction iterations/s (over the first `--blocks` blocks, each block's two capture passes
over the calibration set included) and torch.cuda.max_memory_allocated per stage (null on CPU).
The default net is a ResNet-50 (bottleneck blocks 3-4-6-3, 25.6 M parameters) defined here, since
lisq's registry holds only CIFAR-size nets and torchvision is optional; `--model REF` takes any lisq
model reference instead (registry name, file.py:factory, tv:NAME with its weights in the cache).
Weights are random, BN statistics are set from a few random batches: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import torch
import torch.nn as nn

from lisq.errors import LisqError
from lisq.precision import AMP_MODES, channels_last_input, require_amp_device, to_channels_last
from lisq.quant import QuantConfig
from lisq.quant.brecq import find_blocks, reconstruct
from lisq.quant.calib import calibrate
from lisq.quant.prepare import prepare_model
from lisq.school import SynthConfig, TeacherSpec
from lisq.school.courses import school_from_modules
from lisq.school.synth import Synthesizer, resolve_canvas

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = 4 * width
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class BottleneckResNet(nn.Module):
    """ImageNet ResNet (He et al. 2016) with bottleneck blocks; (3, 4, 6, 3) at width 64 is ResNet-50."""

    def __init__(self, layers=(3, 4, 6, 3), width: int = 64, num_classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        stages, cin = [], width
        for i, n in enumerate(layers):
            w = width * 2**i
            stages.append(nn.Sequential(*[Bottleneck(cin if j == 0 else 4 * w, w, 2 if (i > 0 and j == 0) else 1)
                                          for j in range(n)]))
            cin = 4 * w
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.stages(self.stem(x)), 1), 1))


def build_net(args, seed: int, device: torch.device) -> nn.Module:
    torch.manual_seed(seed)
    if args.model:
        from lisq.data import IMAGENET_SPEC
        from lisq.models.resolve import build_model

        model = build_model(args.model, args.weights, IMAGENET_SPEC, dataset="imagenet")
    elif args.tiny:
        model = BottleneckResNet((1, 1, 1, 1), width=8)
    else:
        model = BottleneckResNet()
    model = model.to(device).train()
    with torch.no_grad():  # BN statistics from random batches: a stand-in for training
        for _ in range(2):
            model(torch.randn(min(args.batch_size, 16), 3, args.image_size, args.image_size, device=device))
    return model.eval()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mb(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if device.type == "cuda" else None


def bench_synth(args, teachers: list[nn.Module], amp: str, channels_last: bool, device: torch.device) -> dict:
    specs = [TeacherSpec(name=f"t{i}", module=m, input_size=args.image_size, channels=3, mean=IMAGENET_MEAN,
                         std=IMAGENET_STD, num_classes=1000, dataset="imagenet") for i, m in enumerate(teachers)]
    school = school_from_modules(specs)
    cfg = SynthConfig(generator="lis", num_images=2 * args.batch_size, batch_size=args.batch_size, iters=args.synth_iters,
                      sampler="all", k=len(specs), a_tv=1e-4, tv_norm="l2", a_l2=1e-5, jitter=max(args.image_size // 8, 1),
                      amp=amp, channels_last=channels_last, speed="full").resolved()
    cfg = resolve_canvas(cfg, school)
    warm = Synthesizer(replace(cfg, iters=2), school, device)
    try:
        warm.run_batch(1)  # cudnn autotuning, allocator warm-up
    finally:
        warm.close()
    synth = Synthesizer(cfg, school, device)
    try:
        for i in range(len(specs)):
            synth.teacher(i)  # load (and convert) the teachers outside the timed loop
        reset_peak(device)
        sync(device)
        start = time.perf_counter()
        synth.run_batch(0)
        sync(device)
        seconds = time.perf_counter() - start
    finally:
        synth.close()
    return {"synth_iters_per_s": round(cfg.iters / seconds, 3), "synth_images_per_s": round(cfg.batch_size / seconds, 4),
            "synth_image_iters_per_s": round(cfg.batch_size * cfg.iters / seconds, 2), "synth_seconds": round(seconds, 3),
            "synth_max_memory_allocated_mb": peak_mb(device)}


def bench_brecq(args, student: nn.Module, amp: str, channels_last: bool, device: torch.device) -> dict:
    config = QuantConfig(method="brecq", w_bits=4, a_bits=4, iters=args.brecq_iters, batch_size=args.brecq_batch_size,
                         amp=amp, channels_last=channels_last)
    calib = torch.randn(args.calib_samples, 3, args.image_size, args.image_size,
                        generator=torch.Generator().manual_seed(0)).to(device)
    qmodel, _ = prepare_model(student, config, calib[:1])
    calibrate(qmodel, calib, "minmax")  # range init does not change the speed of reconstruction
    if channels_last:
        to_channels_last(qmodel)
        calib = channels_last_input(calib)
    blocks = find_blocks(qmodel, calib[:1])[: args.blocks]
    reset_peak(device)
    sync(device)
    start = time.perf_counter()
    reconstruct(qmodel, calib, config, blocks, learn_act=True, qdrop=config.qdrop)
    sync(device)
    seconds = time.perf_counter() - start
    steps = len(blocks) * config.iters
    return {"brecq_iters_per_s": round(steps / seconds, 3), "brecq_blocks": blocks, "brecq_seconds": round(seconds, 3),
            "brecq_max_memory_allocated_mb": peak_mb(device)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="a small bottleneck net at 32x32 and a few steps (CPU smoke run)")
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda:0 ...")
    p.add_argument("--amp", nargs="+", default=["off", "bf16"], choices=AMP_MODES)
    p.add_argument("--channels-last", nargs="+", default=["off", "on"], choices=["off", "on"])
    p.add_argument("--stages", nargs="+", default=["synth", "brecq"], choices=["synth", "brecq"])
    p.add_argument("--model", default=None, help="a lisq model reference instead of the built-in ResNet-50")
    p.add_argument("--weights", default=None)
    p.add_argument("--teachers", type=int, default=2, help="teachers per synthesis iteration (LIS, k = all)")
    p.add_argument("--image-size", type=int, default=None, help="default 224 (--tiny: 32)")
    p.add_argument("--batch-size", type=int, default=None, help="synthesis batch (default 64, --tiny: 8)")
    p.add_argument("--synth-iters", type=int, default=None, help="timed synthesis iterations (default 20, --tiny: 4)")
    p.add_argument("--calib-samples", type=int, default=None, help="BRECQ calibration images (default 256, --tiny: 32)")
    p.add_argument("--brecq-batch-size", type=int, default=32)
    p.add_argument("--brecq-iters", type=int, default=None, help="steps per block (default 100, --tiny: 4)")
    p.add_argument("--blocks", type=int, default=None, help="blocks reconstructed (default 4, --tiny: 2)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--jsonl", default=None, help="also append the rows to this file")
    args = p.parse_args(argv)
    tiny = {"image_size": 32, "batch_size": 8, "synth_iters": 4, "calib_samples": 32, "brecq_iters": 4, "blocks": 2}
    full = {"image_size": 224, "batch_size": 64, "synth_iters": 20, "calib_samples": 256, "brecq_iters": 100, "blocks": 4}
    for key, value in (tiny if args.tiny else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    teachers = [build_net(args, seed, device) for seed in range(args.teachers)] if "synth" in args.stages else []
    student = build_net(args, 100, device) if "brecq" in args.stages else None
    params = sum(p.numel() for p in (teachers[0] if teachers else student).parameters())
    sink = open(args.jsonl, "a") if args.jsonl else None
    for amp in args.amp:
        for cl in args.channels_last:
            row = {"device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                   "model": args.model or ("bottleneck-resnet-tiny" if args.tiny else "resnet50"), "params": params,
                   "image_size": args.image_size, "amp": amp, "channels_last": cl == "on", "torch": torch.__version__}
            try:
                require_amp_device(amp, device)
            except LisqError as exc:
                row["skipped"] = str(exc)
            else:
                if "synth" in args.stages:
                    row.update(batch_size=args.batch_size, teachers=len(teachers),
                               **bench_synth(args, teachers, amp, cl == "on", device))
                if "brecq" in args.stages:
                    row.update(calib_samples=args.calib_samples, brecq_batch_size=args.brecq_batch_size,
                               **bench_brecq(args, student, amp, cl == "on", device))
            line = json.dumps(row)
            print(line, flush=True)
            if sink:
                sink.write(line + "\n")
    if sink:
        sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
