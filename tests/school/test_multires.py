"""Multi-resolution synthesis: the first iterations run every teacher at a reduced input, the images come
out at full size, and the `full` speed preset is the loop without it."""

import json
import math

import pytest
from tiny_models import tiny_a, tiny_b

from lisq.errors import LisqError
from lisq.school import SynthConfig, synthesize


def test_low_res_phase_feeds_the_teachers_smaller_inputs_then_full_size(tmp_path):
    teachers = [tiny_a(), tiny_b()]
    sizes = []
    hooks = [t.register_forward_pre_hook(lambda m, args: sizes.append(args[0].shape[-1])) for t in teachers]
    cfg = SynthConfig(generator="lis", num_images=4, batch_size=4, iters=10, k=2, lowres_iters=6, lowres_scale=0.5)
    summary = synthesize(tmp_path / "m", cfg, teachers=teachers, quiet=True)
    for h in hooks:
        h.remove()
    passes = sizes[4:]  # after two probe passes per teacher when it is loaded: its own size, then the low-res size
    assert sizes[:4] == [28, 14, 28, 14] and passes[:12] == [14] * 12  # 6 iterations x 2 teachers at half of 28 px
    assert passes[12:] == [28] * 8  # the other 4 iterations at full size
    assert summary["complete"]
    from PIL import Image

    rows = [json.loads(line) for line in (tmp_path / "m" / "manifest.jsonl").read_text().splitlines()]
    with Image.open(tmp_path / "m" / rows[0]["file"]) as im:
        assert im.size == (28, 28)


def test_same_seed_same_bytes_and_off_in_the_full_preset(tmp_path):
    cfg = SynthConfig(generator="lis", num_images=4, batch_size=2, iters=8, k=2, lowres_iters=4)
    for name in ("a", "b"):
        synthesize(tmp_path / name, cfg, teachers=[tiny_a(), tiny_b()], quiet=True)
    pngs = lambda d: [p.read_bytes() for p in sorted((tmp_path / d).rglob("*.png"))]  # noqa: E731
    assert pngs("a") == pngs("b")
    synthesize(tmp_path / "c", SynthConfig(generator="lis", num_images=4, batch_size=2, iters=8, k=2, speed="full"),
               teachers=[tiny_a(), tiny_b()], quiet=True)
    assert pngs("c") != pngs("a")
    assert SynthConfig().lowres_iters is None and SynthConfig(iters=8).with_speed("full").lowres_iters == 0


@pytest.mark.parametrize("bad", [{"lowres_iters": 8}, {"lowres_iters": 2, "lowres_scale": 0}, {"lowres_iters": -1}])
def test_bad_schedules_are_refused(bad):
    with pytest.raises(LisqError, match="lowres"):
        SynthConfig(iters=8, **bad)


def test_a_batch_that_stops_inside_the_low_res_phase_still_comes_out_at_full_size(tmp_path):
    from PIL import Image

    cfg = SynthConfig(generator="lis", num_images=2, batch_size=2, iters=40, k=2, lowres_iters=30,
                      stop_window=5, stop_tol=0.9)  # tol 0.9: stops at the first check, iteration 10
    synthesize(tmp_path / "s", cfg, teachers=[tiny_a(), tiny_b()], quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "s" / "manifest.jsonl").read_text().splitlines()]
    assert rows[0]["iters"] == 10
    with Image.open(tmp_path / "s" / rows[0]["file"]) as im:
        assert im.size == (28, 28)


def _lr_trace(monkeypatch):
    import torch

    lrs = []
    step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: (lrs.append(self.param_groups[0]["lr"]), step(self, *a, **k))[1])
    return lrs


@pytest.mark.parametrize("restart", [False, True])
def test_lowres_restart_gives_the_full_size_finish_its_own_schedule(tmp_path, monkeypatch, restart):
    lrs = _lr_trace(monkeypatch)
    cfg = SynthConfig(generator="lis", num_images=2, batch_size=2, iters=10, k=2, lowres_iters=6, lr=0.2,
                      lowres_restart=restart)
    synthesize(tmp_path / "r", cfg, teachers=[tiny_a(), tiny_b()], quiet=True)
    assert len(lrs) == 10 and lrs[0] == pytest.approx(0.2)
    if restart:  # each phase anneals from lr: 6 iterations, then 4
        assert lrs[6] == pytest.approx(0.2) and lrs[5] < 0.02 and lrs[9] < lrs[8] < lrs[7] < lrs[6]
    else:  # one cosine over all 10 iterations
        assert lrs[6] < lrs[5] and lrs[6] == pytest.approx(0.1 * (1 + math.cos(math.pi * 0.6)))


def test_lowres_restart_starts_the_plateau_windows_again_at_the_switch(tmp_path):
    used = {}
    for restart in (False, True):  # tol 0.9: the first window check stops the batch
        cfg = SynthConfig(generator="lis", num_images=2, batch_size=2, iters=40, k=2, lowres_iters=6,
                          stop_window=5, stop_tol=0.9, lowres_restart=restart)
        synthesize(tmp_path / str(restart), cfg, teachers=[tiny_a(), tiny_b()], quiet=True)
        used[restart] = json.loads((tmp_path / str(restart) / "manifest.jsonl").read_text().splitlines()[0])["iters"]
    assert used == {False: 10, True: 16}  # iteration 10 overall; 10 iterations after the switch at 6
