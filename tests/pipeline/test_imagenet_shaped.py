"""ImageNet-shaped models end to end from the CLI: a school of user-defined teachers with different
input sizes and normalisations -> lisq synth -> lisq quantize (BRECQ W4A4) -> lisq export -> lisq eval --val."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from lisq.cli import main
from lisq.models import save_weights
from lisq.models.resolve import build_model

NETS = Path(__file__).with_name("imagenet_nets.py")
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
ODD = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.3, 0.2]}  # a user model's own normalisation
TEACHERS = {"teacher_a": (32, IMAGENET), "teacher_b": (48, ODD), "teacher_c": (64, IMAGENET)}


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def calibrated_weights(factory: str, size: int, path: Path) -> None:
    """Random weights with BN running statistics from a few random batches (a stand-in for training)."""
    model = build_model(f"{NETS}:{factory}").train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 3, size, size) * 0.8 + 0.1)
    save_weights(model, path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet_shaped")
    for name, (size, _) in TEACHERS.items():
        calibrated_weights(name, size, root / f"{name}.safetensors")
    calibrated_weights("student", 48, root / "student.safetensors")
    school = {"name": "imagenet-shaped", "courses": [
        {"name": "residual", "teachers": [
            {"name": n, "model": f"{NETS}:{n}", "weights": f"{n}.safetensors", "input_size": s, "channels": 3,
             "num_classes": 1000, **norm}
            for n, (s, norm) in TEACHERS.items() if n != "teacher_b"]},
        {"name": "plain", "teachers": [
            {"name": "teacher_b", "model": f"{NETS}:teacher_b", "weights": "teacher_b.safetensors", "input_size": 48,
             "channels": 3, "num_classes": 1000, **ODD}]},
    ]}
    (root / "school.yaml").write_text(yaml.safe_dump(school))
    rng = np.random.default_rng(0)
    index = {}
    for i, cls in enumerate(["n01440764", "n01443537", "n01484850"]):
        (root / "val" / cls).mkdir(parents=True)
        index[cls] = [0, 1, 2][i]
        for j in range(3):
            Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(root / "val" / cls / f"{j}.JPEG")
    (root / "class_index.json").write_text(json.dumps(index))
    return root


def eval_and_export(capsys, qdir: Path, val: Path, n_val: int, size: int, *eval_flags) -> None:
    """`lisq eval --val` gives top-1 and top-5 over every image; the exported ONNX graph runs in ONNX Runtime."""
    code, out, err = cli(capsys, "eval", "--quantized", qdir, "--val", val, *eval_flags, "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["n"] == n_val and "top5" in result

    code, _, err = cli(capsys, "export", qdir, "--onnx", qdir.parent / f"{qdir.name}.onnx")
    assert code == 0, err
    import onnxruntime as ort

    session = ort.InferenceSession(str(qdir.parent / f"{qdir.name}.onnx"))
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    assert session.run(None, {session.get_inputs()[0].name: x})[0].shape == (2, 1000)


STUDENT_FLAGS = ["--dataset", "imagenet", "--input-size", "48", "--mean", "0.5,0.5,0.5", "--std", "0.25,0.3,0.2", "--num-classes", "1000"]


def test_school_synthesizes_quantizes_exports_and_evaluates(workdir, capsys):
    data = workdir / "synth"
    code, _, err = cli(capsys, "synth", "--dataset", "imagenet", "--generator", "lis", "--school", workdir / "school.yaml", "--num-images", 8,
                       "--batch-size", 4, "--iters", 3, "--k", 2, "--out", data, "--quiet")
    assert code == 0, err
    rows = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(len(r["teachers"]) == 2 for r in rows)
    with Image.open(data / rows[0]["file"]) as im:
        assert im.size == (64, 64) and im.mode == "RGB"  # the canvas: the largest teacher input

    qdir = workdir / "q"
    code, _, err = cli(capsys, "quantize", "--model", f"{NETS}:student", "--weights", workdir / "student.safetensors",
                       *STUDENT_FLAGS, "--data", data, "--method", "brecq", "--w-bits", 4, "--a-bits", 4,
                       "--iters", 3, "--num-samples", 8, "--out", qdir, "--quiet")
    assert code == 0, err
    meta = json.loads((qdir / "config.json").read_text())
    assert meta["input"]["size"] == 48 and meta["input"]["std"] == [0.25, 0.3, 0.2]

    eval_and_export(capsys, qdir, workdir / "val", 9, 48, "--class-index", workdir / "class_index.json")


def test_teacher_without_bn_is_refused(workdir, capsys):
    code, _, err = cli(capsys, "synth", "--generator", "deepinversion", "--teachers", f"{NETS}:no_bn",
                       "--num-images", 4, "--iters", 1, "--out", workdir / "nobn", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "BatchNorm" in err


def test_224_school_end_to_end(tmp_path, capsys):
    """Full ImageNet resolution at tiny width: a 224x224 teacher beside a 64x64 one with another normalisation,
    then a 224x224 student through BRECQ W4A4, ONNX export and top-1/top-5 on an ImageFolder val directory."""
    calibrated_weights("teacher_a", 224, tmp_path / "a.safetensors")
    calibrated_weights("teacher_c", 64, tmp_path / "c.safetensors")
    calibrated_weights("student", 224, tmp_path / "s.safetensors")
    school = {"name": "full-size", "courses": [
        {"name": "big", "teachers": [{"name": "a", "model": f"{NETS}:teacher_a", "weights": "a.safetensors",
                                      "input_size": 224, "channels": 3, "num_classes": 1000, **IMAGENET}]},
        {"name": "small", "teachers": [{"name": "c", "model": f"{NETS}:teacher_c", "weights": "c.safetensors",
                                        "input_size": 64, "channels": 3, "num_classes": 1000, **ODD}]},
    ]}
    (tmp_path / "school.yaml").write_text(yaml.safe_dump(school))
    data = tmp_path / "synth"
    code, _, err = cli(capsys, "synth", "--dataset", "imagenet", "--generator", "lis", "--school", tmp_path / "school.yaml", "--sampler", "all",
                       "--num-images", 4, "--batch-size", 4, "--iters", 2, "--out", data, "--quiet")
    assert code == 0, err
    rows = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(sorted(r["teachers"]) == ["a", "c"] for r in rows)
    with Image.open(data / rows[0]["file"]) as im:
        assert im.size == (224, 224) and im.mode == "RGB"

    flags = ["--dataset", "imagenet", "--input-size", "224", "--mean", ",".join(map(str, IMAGENET["mean"])),
             "--std", ",".join(map(str, IMAGENET["std"])), "--num-classes", "1000"]
    qdir = tmp_path / "q"
    code, _, err = cli(capsys, "quantize", "--model", f"{NETS}:student", "--weights", tmp_path / "s.safetensors", *flags,
                       "--data", data, "--method", "brecq", "--w-bits", 4, "--a-bits", 4, "--iters", 2,
                       "--num-samples", 4, "--out", qdir, "--quiet")
    assert code == 0, err
    assert json.loads((qdir / "config.json").read_text())["input"]["size"] == 224

    val = tmp_path / "val"
    rng = np.random.default_rng(0)
    for cls in ("n01440764", "n01443537"):
        (val / cls).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)).save(val / cls / "0.JPEG")
    eval_and_export(capsys, qdir, val, 2, 224)
