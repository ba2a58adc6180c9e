import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import yaml
from tiny_models import TinyNet, tiny_a, tiny_b, tiny_c

from lisq.data import FASHION_MNIST_NORM, Normalization
from lisq.errors import LisqError
from lisq.school import SynthConfig, TeacherSpec, synthesize
from lisq.school.synth import Synthesizer, derive_seed
from lisq.school.teacher import Teacher

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}


def tree_digest(root: Path) -> dict:
    """Relative path -> sha256 of every PNG and the manifest."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and (p.suffix == ".png" or p.name == "manifest.jsonl"))
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def rows(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]


def small(**kw) -> SynthConfig:
    base = dict(generator="lis", num_images=10, batch_size=4, iters=6)
    base.update(kw)
    return SynthConfig(**base)


def test_lis_from_python_modules_writes_imagefolder(tmp_path):
    out = tmp_path / "d"
    summary = synthesize(out, small(k=2), teachers=[tiny_a(), tiny_b(), tiny_c()], quiet=True)
    assert summary["complete"] and summary["image_iters"] == 10 * 6
    manifest = rows(out)
    assert [r["id"] for r in manifest] == list(range(10))
    assert [r["label"] for r in manifest] == [i % 10 for i in range(10)]
    for r in manifest:
        assert r["file"] == f"{r['label']:02d}/{r['id']:06d}.png" and (out / r["file"]).is_file()
        assert set(r["loss"]) == {"ce", "bn", "tv", "l2", "total"} and len(r["teachers"]) == 2
        assert r["seed"] == 0 and r["batch"] == r["id"] // 4
    from PIL import Image

    with Image.open(out / manifest[0]["file"]) as im:
        assert im.mode == "L" and im.size == (28, 28)
    cfg = (out / "config.yaml").read_text()
    assert "generator: lis" in cfg and "sampler: uniform" in cfg  # the default sampler


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    teachers = [tiny_a(), tiny_b()]
    synthesize(tmp_path / "a", small(num_images=4), teachers=teachers, quiet=True)
    synthesize(tmp_path / "b", small(num_images=4), teachers=teachers, quiet=True)
    synthesize(tmp_path / "c", small(num_images=4, seed=1), teachers=teachers, quiet=True)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "c")


def test_derived_seeds_depend_on_seed_batch_attempt():
    seeds = {derive_seed(s, b, a) for s in range(3) for b in range(3) for a in range(2)}
    assert len(seeds) == 18 and derive_seed(0, 1) == derive_seed(0, 1)


def test_mixmix_soft_labels_and_unmixed_saved(tmp_path):
    synthesize(tmp_path / "m", small(generator="mixmix", num_images=4, mix_prob=1.0), teachers=[tiny_a(), tiny_b()], quiet=True)
    for r in rows(tmp_path / "m"):
        assert len(r["soft_label"]) == 10 and sum(r["soft_label"]) == pytest.approx(1, abs=1e-3)


def test_gaussian_and_zeroq(tmp_path):
    synthesize(tmp_path / "g", SynthConfig(generator="gaussian", num_images=6, batch_size=4), quiet=True)
    assert len(rows(tmp_path / "g")) == 6
    teacher = tiny_a()
    synthesize(tmp_path / "z", small(generator="zeroq", num_images=4), teachers=[teacher], quiet=True)
    from lisq.data import SyntheticDataset

    data = SyntheticDataset(tmp_path / "z")
    assert data.pixels().shape == (4, 1, 28, 28)
    with torch.no_grad():
        predicted = teacher(data.norm.normalize(data.pixels())).argmax(1)
    assert (predicted == data.labels).float().mean() >= 0.75  # labels are the teacher's own predictions (up to 8-bit rounding)
    for r in rows(tmp_path / "z"):
        assert r["loss"]["ce"] == 0.0 and r["loss"]["tv"] is None  # BN term only


def test_real_generator_reads_train_split(tmp_path):
    pytest.importorskip("lisq.data").load_fashion_mnist("train")
    synthesize(tmp_path / "r", SynthConfig(generator="real", num_images=5, batch_size=4), quiet=True)
    from lisq.data import load_fashion_mnist

    _, labels = load_fashion_mnist("train")
    for r in rows(tmp_path / "r"):
        assert r["label"] == int(labels[r["source_index"]])


def test_single_teacher_generators_refuse_many_teachers(tmp_path):
    with pytest.raises(LisqError, match="inverts one teacher"):
        synthesize(tmp_path / "x", small(generator="deepinversion"), teachers=[tiny_a(), tiny_b()], quiet=True)
    synthesize(tmp_path / "y", small(generator="deepinversion", num_images=2, teacher="TinyNet_1"), teachers=[tiny_a(), tiny_b()], quiet=True)
    assert rows(tmp_path / "y")[0]["teachers"] == ["TinyNet_1"]


def test_bn_generator_refuses_teacher_without_bn(tmp_path):
    from tiny_models import no_bn

    with pytest.raises(LisqError, match="no BatchNorm layers"):
        synthesize(tmp_path / "x", small(generator="deepinversion"), teachers=[no_bn()], quiet=True)


def test_worker_loads_only_drawn_teachers(tmp_path):
    summary = synthesize(tmp_path / "s", small(num_images=4, sampler="single", teacher="TinyNet_2"),
                         teachers=[tiny_a(), tiny_b(), tiny_c()], quiet=True)
    assert summary["teachers_loaded"] == ["TinyNet_2"]


def test_teacher_adapt_resizes_and_renormalises():
    from lisq.data import FASHION_MNIST_SPEC as canvas

    spec = TeacherSpec(name="t", module=TinyNet(4), input_size=14, mean=(0.5,), std=(0.25,))
    teacher = Teacher(spec, canvas)
    x = torch.randn(3, 1, 28, 28)
    pixels = x * 0.353 + 0.286
    expected = torch.nn.functional.interpolate((pixels - 0.5) / 0.25, size=(14, 14), mode="bilinear", align_corners=False)
    assert torch.allclose(teacher.adapt(x), expected, atol=1e-5)
    rgb = Teacher(TeacherSpec(name="rgb", module=TinyNet(4, in_channels=3), channels=3, mean=(0.5,) * 3, std=(0.5,) * 3), canvas)
    assert rgb.adapt(x).shape == (3, 3, 28, 28)


def test_teachers_with_different_inputs_work_together(tmp_path):
    specs = [
        TeacherSpec(name="small", module=tiny_a(), input_size=20, mean=(0.5,), std=(0.25,)),
        TeacherSpec(name="big", module=tiny_b(), input_size=32),
    ]
    synthesize(tmp_path / "mixed", small(num_images=4, sampler="all"), teachers=specs, quiet=True)
    from PIL import Image

    with Image.open(tmp_path / "mixed" / rows(tmp_path / "mixed")[0]["file"]) as im:
        assert im.size == (32, 32)  # canvas = the largest teacher input


class FlakyNet(TinyNet):
    """Returns NaN logits for its first `bad` forward calls."""

    def __init__(self, bad: int):
        super().__init__(4, seed=5)
        self.calls, self.bad = 0, bad

    def forward(self, x):
        self.calls += 1
        out = super().forward(x)
        return out * float("nan") if self.calls <= self.bad else out


def test_nan_loss_restarts_batch_with_warning(tmp_path):
    with pytest.warns(RuntimeWarning, match="restarting it from derived seed"):
        synthesize(tmp_path / "n", small(generator="deepinversion", num_images=2, iters=30), teachers=[FlakyNet(bad=10)], quiet=True)
    manifest = rows(tmp_path / "n")
    assert all(r["attempt"] == 1 for r in manifest)
    assert all(r["loss"]["total"] == r["loss"]["total"] for r in manifest)  # finite


def test_refuse_non_empty_overwrite_and_resume_mismatch(tmp_path):
    out = tmp_path / "d"
    synthesize(out, small(num_images=2), teachers=[tiny_a()], quiet=True)
    with pytest.raises(LisqError, match="not empty"):
        synthesize(out, small(num_images=2), teachers=[tiny_a()], quiet=True)
    with pytest.raises(LisqError, match="differs at 'synth.iters'"):
        synthesize(out, small(num_images=2, iters=7), teachers=[tiny_a()], quiet=True, resume=True)
    before = tree_digest(out)
    synthesize(out, small(num_images=2), teachers=[tiny_a()], quiet=True, resume=True)  # complete: nothing to do
    assert tree_digest(out) == before
    synthesize(out, small(num_images=3), teachers=[tiny_a()], quiet=True, overwrite=True)
    assert len(rows(out)) == 3
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "precious.txt").write_text("x")
    with pytest.raises(LisqError, match="not a lisq dataset"):
        synthesize(tmp_path / "other", small(num_images=2), teachers=[tiny_a()], quiet=True, overwrite=True)


def _cli(tiny_ref, out, *extra, nproc=1):
    teachers = ",".join(f"{tiny_ref}:{f}" for f in ("tiny_a", "tiny_b", "tiny_c"))
    args = ["-m", "lisq", "synth", "--teachers", teachers, "--out", str(out), "--seed", "3", "--quiet", *extra]
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    return [sys.executable, *args]


@pytest.mark.dist
def test_world_size_1_and_2_give_identical_bytes(tmp_path, tiny_ref):
    opts = ["--num-images", "12", "--batch-size", "4", "--iters", "8", "--generator", "mixmix"]
    one = subprocess.run(_cli(tiny_ref, tmp_path / "p1", *opts), env=ENV, capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run(_cli(tiny_ref, tmp_path / "p2", *opts, "--json", "--k", "1", nproc=2), env=ENV, capture_output=True, text=True, timeout=180)
    assert two.returncode == 0, two.stderr[-2000:]
    one_k1 = subprocess.run(_cli(tiny_ref, tmp_path / "p1k1", *opts, "--k", "1"), env=ENV, capture_output=True, text=True, timeout=120)
    assert one_k1.returncode == 0, one_k1.stderr[-2000:]
    d1, d2 = tree_digest(tmp_path / "p1k1"), tree_digest(tmp_path / "p2")
    assert len(d1) == 13 and d1 == d2
    assert tree_digest(tmp_path / "p1") != d1  # k changes the data (sanity)
    # each rank loaded exactly the teachers its own batches drew
    from lisq.school.courses import school_from_names
    from lisq.school.synth import resolve_canvas

    school = school_from_names([f"{tiny_ref}:{f}" for f in ("tiny_a", "tiny_b", "tiny_c")])
    cfg = resolve_canvas(SynthConfig(generator="mixmix", num_images=12, batch_size=4, iters=8, seed=3, k=1).resolved(), school)
    planner = Synthesizer(cfg, school, torch.device("cpu"))
    summaries = [json.loads(line) for line in two.stdout.splitlines() if line.startswith("{")]
    assert sorted(s["rank"] for s in summaries) == [0, 1]
    for s in summaries:
        drawn = {school.teachers[i].name for b in range(s["rank"], 3, 2) for _, seg in planner.plan(b) for i in seg}
        assert set(s["teachers_loaded"]) == drawn


def test_kill_9_then_resume_loses_and_duplicates_nothing(tmp_path, tiny_ref):
    opts = ["--num-images", "40", "--batch-size", "4", "--iters", "60", "--generator", "lis"]
    ref = subprocess.run(_cli(tiny_ref, tmp_path / "ref", *opts), env=ENV, capture_output=True, text=True, timeout=120)
    assert ref.returncode == 0, ref.stderr[-2000:]
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(tiny_ref, out, *opts), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / ".shards").glob("*.jsonl"))) < 3:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list((out / ".shards").glob("*.jsonl")))
    assert 3 <= done < 10, "the kill came too late to test anything"
    assert not (out / "manifest.jsonl").exists()
    again = subprocess.run(_cli(tiny_ref, out, *opts, "--resume"), env=ENV, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert tree_digest(out) == tree_digest(tmp_path / "ref")
    ids = [r["id"] for r in rows(out)]
    assert ids == list(range(40))
    assert not list(out.rglob("*.tmp"))


def test_cli_refuses_non_empty_dir_exit_2(tmp_path, tiny_ref):
    opts = ["--num-images", "2", "--batch-size", "2", "--iters", "2"]
    assert subprocess.run(_cli(tiny_ref, tmp_path / "o", *opts), env=ENV, capture_output=True, timeout=120).returncode == 0
    proc = subprocess.run(_cli(tiny_ref, tmp_path / "o", *opts), env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not empty" in proc.stderr and proc.stderr.strip().count("\n") == 0


def test_synthesizer_plan_is_independent_of_worker(tmp_path):
    cfg = small(k=1).resolved()
    from lisq.school.courses import school_from_modules
    from lisq.school.synth import resolve_canvas

    school = school_from_modules([tiny_a(), tiny_b(), tiny_c()])
    cfg = resolve_canvas(cfg, school)
    s1 = Synthesizer(cfg, school, torch.device("cpu"))
    s2 = Synthesizer(cfg, school, torch.device("cpu"))
    assert [s1.plan(b) for b in range(5)] == [s2.plan(b) for b in reversed(range(5))][::-1]
    assert not s1.loaded()  # planning loads nothing


def test_normalization_type_exported():
    assert isinstance(FASHION_MNIST_NORM, Normalization) and isinstance(nn.Module, type)


def test_resume_a_dataset_written_before_newer_settings_existed(tmp_path):
    """config.yaml as an older lisq wrote it (no schema, no grad_per_teacher/amp/channels_last/dataset/speed keys,
    teachers without a dataset): resuming it compares through the schema, finishes the missing batch, and
    gives the same bytes as an uninterrupted run. A config from a newer schema is refused with one line."""
    import shutil

    full, part = tmp_path / "full", tmp_path / "part"
    synthesize(full, small(num_images=8, sampler="all", speed="full"), school=school_yaml(tmp_path), quiet=True)
    shutil.copytree(full, part)
    config = yaml.safe_load((part / "config.yaml").read_text())
    del config["schema"]
    for key in ("grad_per_teacher", "amp", "channels_last", "dataset", "speed", "lowres_iters", "lowres_scale",
                "stop_window", "stop_tol"):
        del config["synth"][key]

    def strip(node):
        if isinstance(node, dict):
            node.pop("dataset", None) if "model" in node else None
            for v in node.values():
                strip(v)
        elif isinstance(node, list):
            for v in node:
                strip(v)

    strip(config["school"])
    (part / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (part / ".shards" / "batch_000001.jsonl").unlink()
    (part / "manifest.jsonl").unlink()
    synthesize(part, small(num_images=8, sampler="all", speed="full"), school=school_yaml(tmp_path), quiet=True, resume=True)
    assert tree_digest(part) == tree_digest(full)
    config["schema"] = 99
    (part / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.raises(LisqError, match="newer lisq") as info:
        synthesize(part, small(num_images=8, sampler="all"), school=school_yaml(tmp_path), quiet=True, resume=True)
    assert "\n" not in str(info.value)


def school_yaml(tmp_path) -> Path:
    path = tmp_path / "school.yaml"
    ref = Path(__file__).parent / "tiny_models.py"
    path.write_text(yaml.safe_dump({"courses": [{"name": "a", "teachers": [f"{ref}:tiny_a"]},
                                                {"name": "b", "teachers": [f"{ref}:tiny_b"]}]}))
    return path


def test_added_teachers_are_in_every_schedule_and_resume_needs_them(tmp_path):
    out = tmp_path / "d"
    school = [tiny_a(), tiny_b()]
    cfg = small(num_images=8, sampler="uniform", k=1)
    synthesize(out, cfg, teachers=school, add_teachers=[tiny_c()], quiet=True)
    manifest = rows(out)
    assert len(manifest) == 8 and all("TinyNet_2" in r["teachers"] and len(r["teachers"]) == 2 for r in manifest)
    assert {r["teachers"][0] for r in manifest} <= {"TinyNet_0", "TinyNet_1"}  # the school's own draw beside it
    whole = tree_digest(out)
    with pytest.raises(LisqError, match="differs at 'school"):
        synthesize(out, cfg, teachers=school, quiet=True, resume=True)
    for r in manifest[4:]:  # lose the second batch, as a kill would
        (out / r["file"]).unlink()
    (out / ".shards" / "batch_000001.jsonl").unlink()
    synthesize(out, cfg, teachers=school, add_teachers=[tiny_c()], quiet=True, resume=True)
    assert tree_digest(out) == whole
