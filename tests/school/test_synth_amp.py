"""Mixed precision (bf16 autocast on CPU) and channels_last in synthesis."""

import json
import math

import pytest
import torch
import yaml
from tiny_models import TinyNet, tiny_a, tiny_b

from lisq.errors import LisqError
from lisq.school import SynthConfig, synthesize
from lisq.school.hooks import BNStatsRecorder, FusedBatchNormMoments
from lisq.school.synth import Synthesizer, resolve_canvas, resolve_school


def small(**kw) -> SynthConfig:
    return SynthConfig(**{"generator": "lis", "num_images": 4, "batch_size": 4, "iters": 8, "speed": "full", **kw})


def batch_pixels(**kw) -> tuple[torch.Tensor, dict]:
    cfg = small(**kw).resolved()
    school = resolve_school(cfg, [tiny_a(), tiny_b()])
    synth = Synthesizer(resolve_canvas(cfg, school), school, torch.device("cpu"))
    result = synth.run_batch(0)
    synth.close()
    return result.pixels, result.rows[0]["loss"]


def test_bf16_synthesis_runs_with_finite_losses_close_to_fp32(tmp_path):
    summary = synthesize(tmp_path / "d", small(amp="bf16"), teachers=[tiny_a(), tiny_b()], quiet=True, device="cpu")
    assert summary["complete"]
    rows = [json.loads(line) for line in (tmp_path / "d" / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(math.isfinite(v) for r in rows for v in r["loss"].values() if v is not None)
    written = yaml.safe_load((tmp_path / "d" / "config.yaml").read_text())["synth"]
    assert written["amp"] == "bf16" and written["channels_last"] is False
    _, fp32 = batch_pixels()
    _, bf16 = batch_pixels(amp="bf16")
    for term in ("ce", "bn", "total"):
        assert bf16[term] == pytest.approx(fp32[term], rel=0.05), term


def test_bn_moments_are_float32_under_autocast_and_match_float64():
    model = TinyNet(4, seed=5).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    recorder = BNStatsRecorder(model)
    seen = []
    handles = [bn.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach())) for bn in recorder.layers]
    x = torch.randn(6, 1, 12, 12, generator=torch.Generator().manual_seed(0), requires_grad=True)
    with recorder, torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
    assert [s.dtype for s in seen] == [torch.bfloat16] * 2  # the convs did run in bf16
    for (mean, var, _, _), inp in zip(recorder.stats, seen, strict=True):
        assert mean.dtype == var.dtype == torch.float32
        ref = inp.double()
        torch.testing.assert_close(mean.double(), ref.mean((0, 2, 3)), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(var.double(), ref.var((0, 2, 3), unbiased=False), rtol=1e-5, atol=1e-6)
    loss = recorder.bn_loss() + logits.float().sum()
    assert loss.dtype == torch.float32
    loss.backward()
    assert x.grad.dtype == torch.float32 and torch.isfinite(x.grad).all()
    for h in handles:
        h.remove()


def test_fused_bn_backward_in_float32_matches_float64_autograd():
    g = torch.Generator().manual_seed(1)
    x16 = (torch.randn(4, 3, 5, 5, generator=g) * 2 + 3).bfloat16()  # offset: E[x^2] - E[x]^2 cancels
    weight, bias = torch.rand(3, generator=g) + 0.5, torch.randn(3, generator=g)
    run_mean, run_var = torch.randn(3, generator=g), torch.rand(3, generator=g) + 0.5
    gy = torch.randn(4, 3, 5, 5, generator=g).bfloat16()

    x = x16.clone().requires_grad_(True)
    y, mean, var = FusedBatchNormMoments.apply(x, weight, bias, run_mean, run_var, 1e-5)
    assert y.dtype == torch.bfloat16 and mean.dtype == var.dtype == torch.float32
    ((y.float() * gy.float()).sum() + (mean - run_mean).pow(2).sum() + (var - run_var).pow(2).sum()).backward()

    xd = x16.double().requires_grad_(True)
    scale = weight.double() / (run_var.double() + 1e-5).sqrt()
    yd = xd * scale.view(1, -1, 1, 1) + (bias.double() - run_mean.double() * scale).view(1, -1, 1, 1)
    md, vd = xd.mean((0, 2, 3)), xd.var((0, 2, 3), unbiased=False)
    ((yd * gy.double()).sum() + (md - run_mean.double()).pow(2).sum() + (vd - run_var.double()).pow(2).sum()).backward()
    torch.testing.assert_close(mean.double(), md.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(var.double(), vd.detach(), rtol=1e-5, atol=1e-5)
    assert x.grad.dtype == torch.bfloat16
    torch.testing.assert_close(x.grad.double(), xd.grad, rtol=1e-2, atol=1e-3)  # one bf16 rounding of the result


def test_channels_last_synthesis_is_close_to_contiguous():
    contiguous, _ = batch_pixels()
    nhwc, _ = batch_pixels(channels_last=True)
    assert (contiguous - nhwc).abs().max() < 1e-4


def test_channels_last_teacher_module_is_given_back_contiguous(tmp_path):
    teacher = tiny_a()
    synthesize(tmp_path / "d", small(channels_last=True), teachers=[teacher], quiet=True, device="cpu",
               generator="deepinversion")
    assert all(p.is_contiguous() for p in teacher.parameters())


def test_fp16_on_cpu_is_refused(tmp_path):
    with pytest.raises(LisqError, match="use --amp bf16 on CPU"):
        synthesize(tmp_path / "d", small(amp="fp16"), teachers=[tiny_a()], quiet=True, device="cpu",
                   generator="deepinversion")
    assert not (tmp_path / "d").exists()


def test_amp_setting_validates_and_reads_unquoted_off(tmp_path):
    with pytest.raises(LisqError, match="amp must be one of"):
        SynthConfig(amp="fp8")
    path = tmp_path / "c.yaml"
    path.write_text("generator: lis\namp: off\nchannels_last: true\n")  # YAML 1.1: `off` reads as False
    cfg = SynthConfig.from_yaml(path)
    assert cfg.amp == "off" and cfg.channels_last is True
    assert SynthConfig.from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict()))) == cfg


def test_dataset_written_before_the_amp_settings_resumes(tmp_path):
    out = tmp_path / "d"
    synthesize(out, small(num_images=8), teachers=[tiny_a()], quiet=True, device="cpu", generator="deepinversion")
    config = yaml.safe_load((out / "config.yaml").read_text())
    del config["synth"]["amp"], config["synth"]["channels_last"], config["synth"]["speed"]
    config["schema"] = 2  # as a lisq before the speed presets wrote it
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    summary = synthesize(out, small(num_images=8), teachers=[tiny_a()], quiet=True, device="cpu",
                         generator="deepinversion", resume=True)
    assert summary["complete"] and summary["batches_done_here"] == 0


@pytest.mark.parametrize("generator", ["lis", "mixmix"])
def test_grad_per_teacher_matches_the_joint_backward(generator):
    """One teacher graph at a time gives the same images and loss terms as one backward of the summed loss."""
    joint, joint_loss = batch_pixels(generator=generator, jitter=2, flip=True)
    split, split_loss = batch_pixels(generator=generator, jitter=2, flip=True, grad_per_teacher=True)
    assert (joint - split).abs().max() < 1e-3
    for key in ("ce", "bn", "total"):
        assert split_loss[key] == pytest.approx(joint_loss[key], rel=1e-3, abs=1e-5)


def test_grad_per_teacher_flag_reaches_the_resolved_config(tmp_path, capsys):
    from lisq.cli import main

    argv = ["synth", "--generator", "lis", "--num-images", "4", "--out", str(tmp_path / "d"), "--quiet", "--dry-run"]
    assert main(argv) == 0 and "grad_per_teacher: false" in capsys.readouterr().out
    assert main(argv + ["--grad-per-teacher"]) == 0 and "grad_per_teacher: true" in capsys.readouterr().out
