"""Every verb with --dataset cifar10 at tiny size (a CIFAR-10-shaped fixture and a model trained on it by
`lisq zoo train`), ImageNet evaluation of a stand-in 1000-class model, and the label-space refusals:
each one line on stderr and exit 2."""

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from lisq.cli import main
from lisq.data.cifar10 import CLASSES
from lisq.data.imagenet import WNIDS

SHARED = Path(os.environ.get("LISQ_SHARED") or Path(__file__).resolve().parents[3] / "shared") / "data"  # make test sets LISQ_SHARED


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, match: str):
    code, _, err = cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert match in err, err


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """$LISQ_DATA with a 10-per-class CIFAR-10-shaped folder, $LISQ_WEIGHTS with resnet8.cifar10 trained 1 epoch."""
    root = tmp_path_factory.mktemp("c10home")
    rng = np.random.default_rng(0)
    for split, n in (("train", 10), ("test", 4)):
        for c, name in enumerate(CLASSES):
            (root / "data" / "cifar10" / split / name).mkdir(parents=True)
            for i in range(n):
                img = np.clip(rng.normal(40 + 20 * c, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(root / "data" / "cifar10" / split / name / f"{i}.png")
    mp = pytest.MonkeyPatch()
    mp.setenv("LISQ_DATA", str(root / "data"))
    mp.setenv("LISQ_WEIGHTS", str(root / "weights"))
    mp.setenv("XDG_CACHE_HOME", str(root / "cache"))
    from lisq.data import cifar10

    cifar10._read.cache_clear()
    torch.set_num_threads(1)
    assert main(["zoo", "train", "resnet8", "--dataset", "cifar10", "--epochs", "1", "--batch-size", "32", "--quiet"]) == 0
    yield root
    mp.undo()
    cifar10._read.cache_clear()


def test_zoo_list_and_train_record(home, capsys):
    code, out, _ = cli(capsys, "zoo", "list", "--dataset", "cifar10", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["resnet8.cifar10"]["dataset"] == "cifar10"  # $LISQ_WEIGHTS, beside the shipped ones
    assert all(r["dataset"] == "cifar10" for r in rows.values())
    record = json.loads((home / "weights" / "resnet8.cifar10.json").read_text())
    assert record["input"]["channels"] == 3 and record["input"]["dataset"] == "cifar10" and record["config"]["augment_pad"] == 4
    code, out, _ = cli(capsys, "eval", "--model", "resnet8.cifar10", "--split", "test", "--json")
    assert code == 0 and json.loads(out)["top1"] == pytest.approx(record["test_top1"]) and json.loads(out)["n"] == 40


def test_zoo_train_init_is_a_warm_restart(home, tmp_path, capsys):
    """--init starts from existing weights: the record names their file, hash and record; wrong weights refused."""
    before = json.loads((home / "weights" / "resnet8.cifar10.json").read_text())
    out = tmp_path / "w"
    code, _, err = cli(capsys, "zoo", "train", "resnet8", "--dataset", "cifar10", "--epochs", "1", "--batch-size", "32",
                       "--lr", "0.0", "--init", "resnet8.cifar10", "--out", out, "--quiet")
    assert code == 0, err
    record = json.loads((out / "resnet8.cifar10.json").read_text())
    assert record["init"]["file"] == "resnet8.cifar10.safetensors" and len(record["init"]["sha256"]) == 64
    assert record["init"]["record"]["test_top1"] == before["test_top1"] and record["config"]["init"] == "resnet8.cifar10"
    assert record["seconds_total"] == pytest.approx(record["seconds"] + before["seconds"], abs=0.2)
    # lr 0 leaves the weights as they were (BN running statistics move; the rest does not)
    from safetensors.torch import load_file

    a, b = load_file(str(home / "weights" / "resnet8.cifar10.safetensors")), load_file(str(out / "resnet8.cifar10.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a if k.endswith(("weight", "bias")) and a[k].ndim > 1)
    refused(capsys, "zoo", "train", "resnet14", "--dataset", "cifar10", "--epochs", "1", "--init", "resnet8.cifar10",
            "--out", out, match="not resnet14")
    refused(capsys, "zoo", "train", "resnet8", "--dataset", "cifar10", "--epochs", "1", "--init", tmp_path / "none.safetensors",
            "--out", out, match="--init")


def test_zoo_train_eval_every_records_a_curve_and_leaves_the_weights_alone(home, tmp_path, capsys):
    from safetensors.torch import load_file

    args = ["zoo", "train", "resnet8", "--dataset", "cifar10", "--epochs", "2", "--batch-size", "32", "--quiet"]
    assert cli(capsys, *args, "--out", tmp_path / "plain")[0] == 0
    assert cli(capsys, *args, "--eval-every", "1", "--out", tmp_path / "curve")[0] == 0
    plain = json.loads((tmp_path / "plain" / "resnet8.cifar10.json").read_text())
    curve = json.loads((tmp_path / "curve" / "resnet8.cifar10.json").read_text())
    assert [("test_top1" in h) for h in plain["history"]] == [False, False]
    assert [h["epoch"] for h in curve["history"] if "test_top1" in h] == [1, 2]
    assert curve["history"][-1]["test_top1"] == pytest.approx(curve["test_top1"], abs=0.03)  # channels_last vs contiguous
    a = load_file(str(tmp_path / "plain" / "resnet8.cifar10.safetensors"))
    b = load_file(str(tmp_path / "curve" / "resnet8.cifar10.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    refused(capsys, *args, "--eval-every", "-1", match="--eval-every")


def test_every_verb_on_cifar10(home, tmp_path, capsys):
    data = tmp_path / "lis"
    code, _, err = cli(capsys, "synth", "--dataset", "cifar10", "--generator", "lis", "--teachers", "resnet8",
                       "--num-images", 8, "--batch-size", 4, "--iters", 2, "--out", data, "--quiet")
    assert code == 0, err
    synth = yaml.safe_load((data / "config.yaml").read_text())["synth"]
    assert (synth["dataset"], synth["channels"], synth["image_size"], synth["mean"]) == ("cifar10", 3, 32, [0.4914, 0.4822, 0.4465])
    with Image.open(next(data.glob("0*/*.png"))) as im:
        assert im.size == (32, 32) and im.mode == "RGB"
    qdir = tmp_path / "q"
    code, out, err = cli(capsys, "quantize", "--dataset", "cifar10", "--model", "resnet8", "--data", "real", "--method", "minmax",
                         "--w-bits", 8, "--a-bits", 8, "--num-samples", 20, "--out", qdir, "--eval", "--quiet")
    assert code == 0, err
    inline = json.loads(out.strip().splitlines()[-1])
    assert inline["dataset"] == "cifar10" and inline["n"] == 40
    code, out, err = cli(capsys, "eval", "--dataset", "cifar10", "--quantized", qdir, "--split", "test", "--json")
    assert code == 0, err
    assert json.loads(out)["top1"] == inline["top1"]
    code, out, err = cli(capsys, "inspect", data, "--dataset", "cifar10", "--judges", "resnet8.cifar10", "--real-limit", 20, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["dataset"] == "cifar10" and report["judges"]["resnet8.cifar10"]["real_reference"]["n"] == 20
    assert (data / "grid.png").is_file()
    code, out, err = cli(capsys, "export", qdir, "--onnx", tmp_path / "q.onnx", "--verify", 40)
    assert code == 0, err
    check = json.loads(out.strip().splitlines()[-1])
    assert check["dataset"] == "cifar10" and check["n"] == 40 and check["prediction_agreement"] >= 0.95
    code, _, err = cli(capsys, "quantize", "--model", "resnet8.cifar10", "--data", data, "--method", "minmax",
                       "--num-samples", 8, "--out", tmp_path / "q2", "--quiet")
    assert code == 0, err  # the synthetic set of the same label space, no --dataset needed


def test_bench_recipe_with_dataset_key(home, tmp_path, capsys):
    recipe = tmp_path / "c10.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "c10", "dataset": "cifar10", "num_images": 16, "seeds": [0], "out": str(tmp_path / "res"),
        "synth": {"iters": 2, "batch_size": 8},
        "generators": [{"name": "gaussian"}, {"name": "deepinversion", "teachers": ["resnet8"]}],
        "students": [{"name": "resnet8", "held_out": False}],
        "settings": [{"method": "minmax", "w_bits": 8, "a_bits": 8, "headline": True}],
    }))
    code, _, err = cli(capsys, "bench", "--config", recipe, "--quiet")
    assert code == 0, err
    rows = (tmp_path / "res" / "results.csv").read_text().splitlines()
    assert len(rows) == 3
    config = yaml.safe_load((tmp_path / "res" / "data" / "deepinversion-s0" / "config.yaml").read_text())
    assert config["synth"]["dataset"] == "cifar10" and config["school"]["courses"][0]["teachers"][0]["dataset"] == "cifar10"


def test_label_space_refusals(home, tmp_path, capsys):
    refused(capsys, "synth", "--generator", "lis", "--teachers", "resnet8,resnet8.cifar10", "--out", tmp_path / "x",
            match="different label spaces")
    refused(capsys, "quantize", "--model", "resnet8.fmnist", "--dataset", "cifar10", "--data", "real", "--out", tmp_path / "q",
            match="label space of 'fmnist', not 'cifar10'")
    refused(capsys, "quantize", "--model", "plaincnn", "--dataset", "cifar10", "--data", "real", "--out", tmp_path / "q",
            match="no shipped weights for cifar10")
    refused(capsys, "eval", "--model", "resnet8.cifar10", "--dataset", "fmnist", match="not 'fmnist'")
    refused(capsys, "eval", "--model", "resnet8.cifar10", "--dataset", "fmnist", "--mean", "0.5", "--std", "0.5", "--channels", "1",
            match="not 'fmnist'")
    fm = tmp_path / "fm"
    assert main(["synth", "--generator", "gaussian", "--num-images", "4", "--out", str(fm), "--quiet"]) == 0
    capsys.readouterr()
    refused(capsys, "quantize", "--model", "resnet8.cifar10", "--data", fm, "--out", tmp_path / "q3",
            match="holds 10-class fmnist images")
    refused(capsys, "demo", "--dataset", "imagenet", match="no demo for imagenet")
    refused(capsys, "zoo", "train", "resnet8.cifar10", match="--dataset cifar10")
    refused(capsys, "eval", "--model", "lisq.models.resnet:resnet8", "--dataset", "cifar10", "--input-size", "64",
            match="the model takes 3x64x64 input but cifar10 images are 3x32x32")


def tiny_imagenet_factory():
    """A stand-in 1000-class ImageNet model at 32 px (no real weights)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 1000))


def test_eval_imagenet_flat_folder_with_a_stand_in_model(tmp_path, capsys):
    rng = np.random.default_rng(0)
    val = tmp_path / "val"
    val.mkdir()
    for w in (WNIDS[1], WNIDS[500], WNIDS[998]):
        Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(val / f"{w}_photo.JPEG")
    ref = f"{Path(__file__)}:tiny_imagenet_factory"
    code, out, err = cli(capsys, "eval", "--dataset", "imagenet", "--model", ref, "--input-size", 32, "--val", val, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["n"] == 3 and result["dataset"] == "imagenet" and 0 <= result["top1"] <= result["top5"] <= 1
    model = tiny_imagenet_factory().eval()
    from lisq.data import IMAGENET_SPEC, get_dataset

    split = get_dataset("imagenet").folder_split(val)
    x = split.inputs(range(3), IMAGENET_SPEC.replace(size=32))
    with torch.no_grad():
        expected = (model(x).argmax(1) == split.labels).float().mean().item()
    assert result["top1"] == pytest.approx(expected)
    # --split val-eval with --val: the evaluation part only (classes 500 and 998; class 1 calibrates)
    code, out, err = cli(capsys, "eval", "--dataset", "imagenet", "--model", ref, "--input-size", 32, "--val", val,
                         "--split", "val-eval", "--json")
    assert code == 0 and json.loads(out)["n"] == 2, err


@pytest.mark.skipif(not (SHARED / "imagenet-sample").is_dir(), reason="the shared ImageNet sample is not on this machine")
def test_eval_imagenet_sample_with_a_stand_in_model(capsys):
    ref = f"{Path(__file__)}:tiny_imagenet_factory"
    code, out, err = cli(capsys, "eval", "--dataset", "imagenet", "--model", ref, "--input-size", 32,
                         "--val", SHARED / "imagenet-sample", "--limit", 50, "--json")
    assert code == 0, err
    assert json.loads(out)["n"] == 50


def serve_outside_resnet20a(tmp_path, monkeypatch) -> None:
    """A random resnet20a checkpoint in the published format, served from a file:// URL as the catalogue's."""
    import dataclasses

    from lisq.models import create_model
    from lisq.zoo import outside

    torch.manual_seed(0)
    served = tmp_path / "served" / "resnet20-test.th"
    served.parent.mkdir()
    torch.save({"state_dict": {f"module.{k}": v for k, v in create_model("resnet20a", 10, 3).state_dict().items()}}, served)
    entry = dataclasses.replace(outside.CATALOGUE["resnet20a.cifar10"], filename=served.name, url=served.as_uri(),
                                sha256=outside.sha256_of(served))
    monkeypatch.setitem(outside.CATALOGUE, "resnet20a.cifar10", entry)


def test_bench_imports_a_published_outside_student_once(home, tmp_path, capsys, monkeypatch):
    serve_outside_resnet20a(tmp_path, monkeypatch)
    recipe = tmp_path / "c10.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "c10", "dataset": "cifar10", "num_images": 8, "seeds": [0], "out": str(tmp_path / "res"),
        "generators": [{"name": "gaussian"}], "judges": ["resnet20a.cifar10"],
        "students": [{"name": "resnet20a.cifar10", "held_out": True}],
        "settings": [{"method": "minmax", "w_bits": 8, "a_bits": 8}],
    }))
    try:
        code, out, err = cli(capsys, "bench", "--config", recipe)
        assert code == 0, err
        assert (out + err).count("importing the published resnet20a.cifar10") == 1
        assert (home / "weights" / "resnet20a.cifar10.json").is_file()
        (row,) = list(csv.DictReader((tmp_path / "res" / "results.csv").open()))
        assert row["student"] == "resnet20a.cifar10" and float(row["top1"]) >= 0
    finally:
        for suffix in ("json", "safetensors"):  # the module's other tests see the fixture as it was
            (home / "weights" / f"resnet20a.cifar10.{suffix}").unlink(missing_ok=True)


def test_cifar10_demo_imports_the_outside_student_and_reports(home, tmp_path, capsys, monkeypatch):
    """`lisq demo --dataset cifar10` at tiny size: the shipped CIFAR-10 school synthesizes, the published
    outside student is imported on first use (a stand-in served from a file:// URL), and the report has
    the three top-1 figures."""
    from lisq.commands import demo

    serve_outside_resnet20a(tmp_path, monkeypatch)
    monkeypatch.setitem(demo.DEMOS, "cifar10", {**demo.DEMOS["cifar10"], "num_images": 8, "synth_iters": 2,
                                                 "batch_size": 8, "quant_iters": 2})
    code, out, err = cli(capsys, "demo", "--dataset", "cifar10", "--out", tmp_path / "demo", "--quiet")
    assert code == 0, err
    assert "importing the published resnet20a.cifar10" in out and (home / "weights" / "resnet20a.cifar10.json").is_file()
    report = json.loads((tmp_path / "demo" / "cifar10-report.json").read_text())
    assert set(report["top1"]) == {"full precision", "LIS (multi-teacher)", "Gaussian noise"}
    assert report["dataset"] == "cifar10" and "resnet20a.cifar10" in report["quality"]["judges"]
    (home / "weights" / "resnet20a.cifar10.json").unlink()  # the module's other tests see the fixture as it was
    (home / "weights" / "resnet20a.cifar10.safetensors").unlink()


def test_synth_add_teachers_imports_a_published_outside_model_on_first_use(home, tmp_path, capsys, monkeypatch):
    """`lisq synth --add-teachers resnet20a.cifar10`: the published model (a stand-in served from a file:// URL) is
    imported once, then joins every batch beside the shipped school's draw."""
    serve_outside_resnet20a(tmp_path, monkeypatch)
    try:
        code, out, err = cli(capsys, "synth", "--dataset", "cifar10", "--add-teachers", "resnet20a", "--num-images", 4,
                             "--batch-size", 2, "--iters", 1, "--k", 1, "--out", tmp_path / "d", "--quiet", "--threads", 1)
        assert code == 0, err
        assert err.count("importing the published resnet20a.cifar10") == 1
        rows = [json.loads(line) for line in (tmp_path / "d" / "manifest.jsonl").read_text().splitlines()]
        assert len(rows) == 4 and all(r["teachers"][-1] == "resnet20a" and len(r["teachers"]) == 2 for r in rows)
    finally:
        for suffix in ("json", "safetensors"):  # the module's other tests see the fixture as it was
            (home / "weights" / f"resnet20a.cifar10.{suffix}").unlink(missing_ok=True)
