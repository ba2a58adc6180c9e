"""`lisq synth --config ... --dry-run`: the shipped recipes validate against the code, without weights."""

from pathlib import Path

import pytest
import yaml

from lisq.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_imagenet_recipe_validates_without_weights(capsys):
    code = main(["synth", "--config", str(ROOT / "configs" / "imagenet.yaml"), "--dry-run", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    import json

    plan = json.loads(out.strip().splitlines()[0])
    assert plan["synth"]["image_size"] == 224 and plan["synth"]["num_classes"] == 1000
    assert plan["teachers"] == ["tv:resnet18", "tv:resnet50", "tv:mobilenet_v2", "tv:mnasnet1_0", "tv:regnet_x_600mf"]
    assert plan["quant"]["iters"] == 20000 and plan["batches"] == 16
    assert "nothing written" in out


def test_default_recipe_dry_run_uses_the_default_school(capsys):
    code = main(["synth", "--config", str(ROOT / "configs" / "synth_lis.yaml"), "--dry-run"])
    out, _ = capsys.readouterr()
    assert code == 0 and "mobilenetv2_100" in out and "mobilenetv2_050" not in out.split("teachers:")[-1]


@pytest.mark.parametrize(
    "change, msg",
    [
        ({"synth": {"iters": 10, "colour": 3}}, "unknown setting 'colour'"),
        ({"school": {"courses": [{"name": "a", "teachers": ["nope_net"]}]}}, "unknown model 'nope_net'"),
        ({"quant": {"method": "brecq", "w_bits": 9}}, "bits"),
    ],
)
def test_bad_recipe_one_line_exit_2(tmp_path, capsys, change, msg):
    recipe = yaml.safe_load((ROOT / "configs" / "imagenet.yaml").read_text())
    for key, value in change.items():
        recipe[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(recipe))
    code = main(["synth", "--config", str(path), "--dry-run"])
    _, err = capsys.readouterr()
    assert code == 2 and msg in err and len(err.strip().splitlines()) == 1


def test_out_required_without_dry_run(capsys):
    assert main(["synth", "--generator", "gaussian", "--num-images", "2"]) == 2
    assert "--out DIR is required" in capsys.readouterr().err


def test_imagenet_lite_school_mixes_resolutions_on_one_canvas(capsys):
    """Two real EfficientNet-Lite teachers at their own sizes: canvas = the largest, their own normalisation."""
    import json

    code = main(["synth", "--school", str(ROOT / "configs" / "school_imagenet_lite.yaml"), "--dry-run", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    plan = json.loads(out.strip().splitlines()[0])
    sizes = {t["name"]: t["input_size"] for c in plan["school"]["courses"] for t in c["teachers"]}
    assert sizes == {"effnet:lite0": 224, "effnet:lite1": 240} and plan["synth"]["image_size"] == 240
    assert plan["synth"]["dataset"] == "imagenet" and plan["synth"]["mean"] == [127 / 255] * 3


def test_add_teachers_flag_puts_the_model_in_every_schedule(capsys, outside_resnet20a):
    import json

    code = main(["synth", "--dataset", "cifar10", "--add-teachers", "resnet20a.cifar10", "--dry-run", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    plan = json.loads(out.strip().splitlines()[0])
    assert plan["teachers"][-1] == "resnet20a.cifar10" and len(plan["teachers"]) == 7
    assert [t["name"] for t in plan["school"]["always"]] == ["resnet20a.cifar10"]
    assert main(["synth", "--generator", "gaussian", "--add-teachers", "resnet20a.cifar10", "--dry-run"]) == 2
    assert "uses no teachers" in capsys.readouterr().err
