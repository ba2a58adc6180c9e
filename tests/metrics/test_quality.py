import json
import subprocess
import sys

import pytest
import torch
from tiny_models import tiny_a

from lisq.data import FASHION_MNIST_NORM
from lisq.metrics.quality import Judge, bn_distance, diversity, fidelity, frechet_distance, judge_outputs, judge_report
from lisq.school import SynthConfig, synthesize


def test_fidelity_and_diversity_by_hand():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert fidelity(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    orth = torch.eye(3, dtype=torch.float64)
    d = diversity(orth, torch.tensor([0, 0, 1]))
    assert d["overall"] == pytest.approx(1.0)  # orthogonal: cosine 0
    same = torch.ones(4, 2)
    assert diversity(same, torch.zeros(4, dtype=torch.long))["overall"] == pytest.approx(0.0, abs=1e-12)
    opposite = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    assert diversity(opposite, torch.tensor([0, 0]))["per_class"][0] == pytest.approx(2.0)


def test_frechet_distance_of_gaussians():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 3, generator=g, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = a + torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64)
    assert frechet_distance(a, shifted) == pytest.approx(5.0, rel=1e-6)
    scaled = a * 2  # covariance 4 I vs I: 3 * (1 + 4 - 2 * 2) = 3
    assert frechet_distance(a, scaled) == pytest.approx(3.0, rel=0.05)


def test_bn_distance_is_zero_when_running_stats_match_the_set():
    model = tiny_a()
    judge = Judge("t", model, FASHION_MNIST_NORM)
    pixels = torch.rand(64, 1, 28, 28)
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average = exact set statistics (unbiased var)
    with torch.no_grad():
        model(judge.prepare(pixels))
    model.eval()
    moments = judge_outputs(judge, pixels)["bn_moments"]
    assert bn_distance(moments) < 0.02
    assert bn_distance(judge_outputs(judge, torch.rand(64, 1, 28, 28) * 0.2)["bn_moments"]) > 0.05


def test_judge_report_with_real_reference():
    judge = Judge("t", tiny_a(), FASHION_MNIST_NORM)
    pixels, labels = torch.rand(20, 1, 28, 28), torch.arange(20) % 10
    report = judge_report(judge, pixels, labels, real=(torch.rand(30, 1, 28, 28), torch.arange(30) % 10))
    assert set(report) >= {"fidelity", "diversity", "bn_distance", "frechet", "real_reference"}


def test_inspect_cli_writes_quality_and_grid(tmp_path, tiny_ref):
    out = tmp_path / "d"
    synthesize(out, SynthConfig(generator="deepinversion", num_images=10, batch_size=5, iters=2), teachers=[tiny_a()], quiet=True)
    proc = subprocess.run(
        [sys.executable, "-m", "lisq", "inspect", str(out), "--judges", f"{tiny_ref}:tiny_b,{tiny_ref}:tiny_c", "--real-limit", "50", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(report["judges"]) == {f"{tiny_ref}:tiny_b", f"{tiny_ref}:tiny_c"}
    assert json.loads((out / "quality.json").read_text()) == report
    from PIL import Image

    with Image.open(out / "grid.png") as im:
        assert im.size[0] > 28 and im.size[1] >= 10 * 28


def test_diversity_of_single_image_classes_is_null_not_nan():
    """One image per class (ImageNet sets of 128 images): valid JSON, no NaN."""
    import json

    feats = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    d = diversity(feats, torch.tensor([0, 1, 2]))
    assert d["per_class"] == {0: None, 1: None, 2: None} and d["mean_per_class"] is None
    assert d["overall"] is not None and 0 < d["overall"] < 2
    json.loads(json.dumps(d, allow_nan=False))


def test_inspect_reuses_the_judges_outputs_on_the_real_reference(tmp_path, tiny_fmnist, monkeypatch):
    """A bench inspects many sets against the same real images: the judge runs on them once per process."""
    from lisq.metrics import inspect as inspect_mod
    from lisq.metrics import quality
    from lisq.school.synth import synthesize

    for name in ("a", "b"):
        synthesize(tmp_path / name, teachers=["resnet8"], num_images=4, batch_size=4, iters=2, generator="deepinversion",
                   seed=0 if name == "a" else 1, quiet=True)
    monkeypatch.setattr(inspect_mod, "REAL_OUTPUTS", {})
    calls = []
    real_outputs = quality.judge_outputs

    def counting(judge, pixels, *args, **kwargs):
        calls.append(len(pixels))
        return real_outputs(judge, pixels, *args, **kwargs)

    monkeypatch.setattr(quality, "judge_outputs", counting)
    first = inspect_mod.inspect_dataset(tmp_path / "a", judges=["resnet14"], real_limit=20)
    second = inspect_mod.inspect_dataset(tmp_path / "b", judges=["resnet14"], real_limit=20)
    assert calls == [20, 4, 4]  # the real reference once, then each synthetic set
    ref_a, ref_b = first["judges"]["resnet14"]["real_reference"], second["judges"]["resnet14"]["real_reference"]
    assert ref_a == ref_b and ref_a["n"] == 20
    assert first["judges"]["resnet14"]["frechet"] != second["judges"]["resnet14"]["frechet"]


def test_grid_caps_tiles_and_rows_for_large_sparse_sets(tmp_path):
    """128 ImageNet-size images of 128 different classes: a small picture, not a 1000-row canvas of 240 px tiles."""
    from PIL import Image

    from lisq.metrics.inspect import save_grid

    pixels = torch.zeros(128, 3, 240, 240)
    pixels[:, 0] = 1.0  # all red
    save_grid(pixels, torch.arange(128) * 7, 1000, 8, tmp_path / "g.png")
    with Image.open(tmp_path / "g.png") as im:
        assert im.size == (8 * (96 + 2), 16 * (96 + 2))
        assert im.getpixel((1 + 48, 1 + 48)) == (255, 0, 0)  # a tile's centre is the image, shrunk
        assert im.getpixel((0, 0)) == (255, 255, 255)  # the 1 px border


def test_grid_keeps_a_row_per_class_for_small_images(tmp_path):
    from PIL import Image

    from lisq.metrics.inspect import save_grid

    labels = torch.arange(40) % 10
    pixels = (labels.float() / 9).view(40, 1, 1, 1).expand(40, 1, 28, 28).contiguous()  # class c has grey level c/9
    save_grid(pixels, labels, 10, 4, tmp_path / "g.png")
    with Image.open(tmp_path / "g.png") as im:
        assert im.size == (4 * (56 + 2), 10 * (56 + 2))
        assert [im.getpixel((30, r * 58 + 30)) for r in range(10)] == [round(c / 9 * 255) for c in range(10)]
