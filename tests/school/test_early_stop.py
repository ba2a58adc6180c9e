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
    assert not any(falling.stop(torch.tensor(100.0 - 4 * it), it) for it in range(20))  # >= 16 % per window
    flat = Plateau(window=4, tol=0.01)
    assert [it for it in range(12) if flat.stop(torch.tensor(5.0), it)] == [7, 11]  # checks with two full windows
    assert not any(Plateau(0, 0.5).stop(torch.tensor(1.0), it) for it in range(10))
    with pytest.raises(LisqError, match="stop_window"):
        SynthConfig(stop_window=-1)


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
