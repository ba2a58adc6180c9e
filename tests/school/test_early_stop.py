"""Plateau stopping: a batch stops when its own loss stops falling, the manifest says after how many
iterations, and the images still do not depend on the world size."""

import json
import subprocess

import pytest
import torch
from test_synth import ENV, _cli, tree_digest
from tiny_models import tiny_a, tiny_b, tiny_c

from lisq.errors import LisqError
from lisq.school import SynthConfig, synthesize
from lisq.school.inversion import Plateau


def test_plateau_rule_on_known_sequences():
    falling = Plateau(window=4, tol=0.01)
    assert not any(falling.stop(torch.tensor(100.0 - 4 * it)) for it in range(20))  # >= 16 % per window
    flat = Plateau(window=4, tol=0.01)
    assert [it for it in range(12) if flat.stop(torch.tensor(5.0))] == [7, 11]  # checks with two full windows
    assert not any(Plateau(0, 0.5).stop(torch.tensor(1.0)) for it in range(10))
    with pytest.raises(LisqError, match="stop_window"):
        SynthConfig(stop_window=-1)


def test_plateau_ignores_steps_that_are_not_comparable():
    """MixMix: plain steps falling steadily, CutMix steps at another level. Counting both reads as flat."""
    plain = [100.0 - 4 * i for i in range(20)]
    mixed = [100.0, 100.0, 400.0, 400.0] * 5  # another level that moves with the random box sizes
    both = Plateau(window=4, tol=0.01)
    seq = [v for pair in zip(plain, mixed, strict=True) for v in pair]
    assert any(both.stop(torch.tensor(v)) for v in seq)  # the bug: stops although the plain loss never plateaus
    only_plain = Plateau(window=4, tol=0.01)
    assert not any(only_plain.stop(torch.tensor(v), comparable=i % 2 == 0) for i, v in enumerate(seq))
    flat = Plateau(window=4, tol=0.01)  # the window counts recorded steps: 8 plain ones, wherever they fall
    calls = [flat.stop(torch.tensor(5.0), comparable=i % 3 != 2) for i in range(12)]
    assert calls.index(True) == 10  # the 8th plain step (steps 2, 5, 8 are CutMix steps)


def test_the_loop_tells_the_plateau_which_steps_are_cutmix_steps(tmp_path, monkeypatch):
    import lisq.school.inversion as inversion

    seen = []

    class Recording(Plateau):
        def stop(self, loss, comparable=True):
            seen.append(comparable)
            return super().stop(loss, comparable)

    monkeypatch.setattr(inversion, "Plateau", Recording)
    teachers = [tiny_a(), tiny_b(), tiny_c()]
    common = dict(num_images=4, batch_size=4, iters=40, seed=3, k=2, stop_window=5, stop_tol=0.0)
    synthesize(tmp_path / "m", SynthConfig(generator="mixmix", **common), teachers=teachers, quiet=True)
    assert 0 < seen.count(False) < len(seen)  # mix_prob 0.5: some steps are CutMix steps, and they are flagged
    seen.clear()
    synthesize(tmp_path / "l", SynthConfig(generator="lis", **common), teachers=teachers, quiet=True)
    assert seen and all(seen)  # lis has no CutMix step: every loss counts, as before


def rows(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_batches_stop_at_a_window_boundary_and_record_their_iterations(tmp_path):
    teachers = [tiny_a(), tiny_b(), tiny_c()]
    cfg = SynthConfig(generator="lis", num_images=8, batch_size=4, iters=60, seed=3, k=2, stop_window=5, stop_tol=0.5)
    summary = synthesize(tmp_path / "a", cfg, teachers=teachers, quiet=True)
    used = [r["iters"] for r in rows(tmp_path / "a")]
    assert all(10 <= u < 60 and u % 5 == 0 for u in used)  # tol 0.5: every batch stops early, at a window end
    assert summary["image_iters"] == sum(used)
    synthesize(tmp_path / "b", SynthConfig(generator="lis", num_images=8, batch_size=4, iters=60, seed=3, k=2, speed="full"),
               teachers=teachers, quiet=True)
    assert "iters" not in rows(tmp_path / "b")[0]  # off in the full preset: every batch runs all its iterations


@pytest.mark.dist
def test_early_stop_gives_the_same_bytes_in_one_or_two_workers(tmp_path, tiny_ref):
    opts = ["--num-images", "12", "--batch-size", "4", "--iters", "40", "--stop-window", "5", "--stop-tol", "0.05", "--k", "1"]
    one = subprocess.run(_cli(tiny_ref, tmp_path / "p1", *opts), env=ENV, capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run(_cli(tiny_ref, tmp_path / "p2", *opts, nproc=2), env=ENV, capture_output=True, text=True, timeout=180)
    assert two.returncode == 0, two.stderr[-2000:]
    assert tree_digest(tmp_path / "p1") == tree_digest(tmp_path / "p2")
    assert len({r["iters"] for r in rows(tmp_path / "p1")}) >= 1
