"""Speed presets (issue 14, item 5): `lisq synth` takes the dataset's preset unless told, explicit settings win,
a teacher that cannot shrink still works, and datasets made before the presets resume with `--speed full`."""

import json

import pytest
import torch
import torch.nn as nn
import yaml
from tiny_models import tiny_a, tiny_b

from lisq.errors import LisqError
from lisq.school import SynthConfig, synthesize
from lisq.school.config import SPEEDS, normalise_resolved
from lisq.school.synth import plan_synthesis


@pytest.mark.parametrize(("dataset", "speed"), [("fmnist", "fast"), ("cifar10", "fast"), ("imagenet", "full")])
def test_each_dataset_has_its_default_preset(dataset, speed):
    cfg, _ = plan_synthesis(SynthConfig(generator="gaussian", iters=200, dataset=dataset))
    assert cfg.speed == speed
    want = SPEEDS[speed]
    assert (cfg.channels_last, cfg.stop_window) == (want["channels_last"], want["stop_window"])
    assert cfg.lowres_iters == int(200 * want["lowres_fraction"])


def test_fast_is_three_quarters_at_half_size_and_explicit_fields_win():
    fast = SynthConfig(iters=100, speed="fast").with_speed()
    assert (fast.channels_last, fast.lowres_iters, fast.lowres_scale, fast.stop_window) == (True, 75, 0.5, 20)
    mixed = SynthConfig(iters=100, speed="fast", lowres_iters=0, channels_last=False).with_speed()
    assert (mixed.channels_last, mixed.lowres_iters, mixed.stop_window) == (False, 0, 20)
    full = SynthConfig(iters=100, dataset="fmnist", speed="full").with_speed()
    assert (full.channels_last, full.lowres_iters, full.stop_window) == (False, 0, 0)
    with pytest.raises(LisqError, match="unknown speed 'quick'"):
        SynthConfig(speed="quick")


class FixedHead(nn.Module):
    """A teacher whose head fixes its input size (28 px): a conv, then a flattening Linear."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2 * 28 * 28, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def test_a_teacher_that_cannot_shrink_sees_the_low_res_images_at_its_own_size(tmp_path):
    fixed, free = FixedHead().eval(), tiny_a()
    seen = {"fixed": [], "free": []}
    fixed.register_forward_pre_hook(lambda m, a: seen["fixed"].append(a[0].shape[-1]))
    free.register_forward_pre_hook(lambda m, a: seen["free"].append(a[0].shape[-1]))
    cfg = SynthConfig(generator="lis", num_images=2, batch_size=2, iters=8, k=2, sampler="all", speed="fast")
    with pytest.warns(RuntimeWarning, match="cannot take its input at 0.5 of 28 px"):
        summary = synthesize(tmp_path / "s", cfg, teachers=[fixed, free], quiet=True)
    assert summary["complete"]
    # 14 px only once: the probe when it loads, which its Linear refuses; every pass after that at 28 px
    assert seen["fixed"][:2] == [28, 14] and set(seen["fixed"][2:]) == {28} and len(seen["fixed"]) > 2
    assert seen["free"][2:].count(14) == 6 and seen["free"][-1] == 28  # the other teacher runs 6 iterations at 14 px


def test_a_dataset_made_before_the_presets_resumes_with_speed_full(tmp_path):
    out = tmp_path / "old"
    cfg = SynthConfig(generator="lis", num_images=4, batch_size=2, iters=3, k=2, speed="full")
    synthesize(out, cfg, teachers=[tiny_a(), tiny_b()], quiet=True)
    # what a lisq before the presets wrote: schema 2, no `speed`, the three fields off
    recorded = yaml.safe_load((out / "config.yaml").read_text())
    recorded["schema"] = 2
    for key in ("speed", "channels_last", "lowres_iters", "stop_window"):
        recorded["synth"].pop(key)
    (out / "config.yaml").write_text(yaml.safe_dump(recorded, sort_keys=False))
    now = SynthConfig(generator="lis", num_images=4, batch_size=2, iters=3, k=2)  # fmnist: fast by default
    with pytest.raises(LisqError, match="made at --speed full: pass --speed full"):
        synthesize(out, now, teachers=[tiny_a(), tiny_b()], quiet=True, resume=True)
    assert synthesize(out, cfg, teachers=[tiny_a(), tiny_b()], quiet=True, resume=True)["complete"]


def test_normalised_configs_compare_the_filled_fields_not_the_preset_name():
    full = SynthConfig(iters=100, dataset="fmnist", speed="full").with_speed().to_dict()
    spelled = SynthConfig(iters=100, dataset="fmnist", speed="fast", channels_last=False, lowres_iters=0,
                          stop_window=0).with_speed().to_dict()
    old = {k: v for k, v in full.items() if k not in ("speed", "channels_last", "lowres_iters", "stop_window")}
    a, b, c = (normalise_resolved({"schema": s, "synth": d}) for s, d in ((3, full), (3, spelled), (2, old)))
    assert a == b == c


def test_cli_speed_flag_and_dry_run(capsys):
    from lisq.cli import main

    assert main(["synth", "--dry-run", "--json", "--generator", "gaussian", "--iters", "40", "--speed", "full"]) == 0
    plan = json.loads(capsys.readouterr().out.splitlines()[0])
    assert plan["synth"]["speed"] == "full" and plan["synth"]["lowres_iters"] == 0
    assert main(["synth", "--dry-run", "--json", "--generator", "gaussian", "--iters", "40", "--no-channels-last"]) == 0
    plan = json.loads(capsys.readouterr().out.splitlines()[0])
    assert plan["synth"]["speed"] == "fast" and plan["synth"]["lowres_iters"] == 30
    assert plan["synth"]["channels_last"] is False and plan["synth"]["lowres_restart"] is False
    assert main(["synth", "--dry-run", "--json", "--generator", "gaussian", "--iters", "40", "--lowres-restart"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["synth"]["lowres_restart"] is True
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--dry-run", "--speed", "quick"])
    assert exc.value.code == 2
    assert "invalid choice: 'quick'" in capsys.readouterr().err
