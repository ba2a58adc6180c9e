"""Multi-resolution synthesis: the first iterations run every teacher at a reduced input, the images come
out at full size, and the `full` speed preset is the loop without it."""

import json

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
