"""The shipped school: every registered architecture has weights that load offline and classify."""

import pytest
import torch

from lisq.data import FASHION_MNIST_NORM, load_fashion_mnist
from lisq.models import create_model, list_pretrained, pretrained_path, pretrained_record, split_name
from lisq.models.registry import package_weights_dir
from lisq.school import default_school

# the Fashion-MNIST school shipped in the package: each must keep its weights and record
FMNIST_ZOO = ["densenet_s", "mobilenetv2_050", "mobilenetv2_100", "plaincnn", "resnet14", "resnet20", "resnet8",
              "shufflenetv2_s", "vgg7"]
SHIPPED = FMNIST_ZOO


def test_every_shipped_fmnist_weight_is_listed():
    assert sorted(split_name(n)[0] for n in list_pretrained("fmnist")) == sorted(FMNIST_ZOO)


@pytest.fixture(scope="module")
def real_batch():
    x, y = load_fashion_mnist("test")
    # a fixed, class-balanced batch: the first 50 images of each class
    idx = torch.cat([torch.nonzero(y == c).flatten()[:50] for c in range(10)])
    return FASHION_MNIST_NORM.normalize(x[idx].float() / 255), y[idx]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_exist_small_with_record(name):
    path = pretrained_path(name)
    assert path is not None, f"{name} has no shipped weights"
    assert path.stat().st_size <= 4 * 1024 * 1024
    record = pretrained_record(name)
    for key in ("config", "seed", "epochs", "seconds", "test_top1"):
        assert key in record
    assert record["test_top1"] >= 0.90


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_classify_real_batch(name, real_batch):
    model = create_model(name, pretrained=True).eval()
    x, y = real_batch
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc >= 0.85, f"{name}: {acc:.3f} on a fixed real test batch"


def _real_cifar10() -> bool:
    from lisq.data.cifar10 import locate

    return locate("test") is not None


@pytest.mark.skipif(not _real_cifar10(), reason="CIFAR-10 is not unpacked here (make test does it from ../shared)")
@pytest.mark.parametrize("name", sorted(p.stem for p in package_weights_dir().glob("*.cifar10.safetensors")))
def test_shipped_cifar10_record_matches_a_fresh_measurement(name):
    """Every shipped CIFAR-10 model: its record's test top-1 is what the real test split gives now, and
    `lisq zoo list` says so; the school's teachers clear the 85 % bar (held-out students need not)."""
    from lisq.commands.zoo import zoo_rows
    from lisq.data import get_dataset
    from lisq.metrics import evaluate
    from lisq.models.resolve import resolve_model

    record = pretrained_record(name)
    assert pretrained_path(name).parent == package_weights_dir()  # not shadowed by a user copy
    assert pretrained_path(name).stat().st_size <= 4 * 1024 * 1024 and record["dataset"] == "cifar10"
    model, spec = resolve_model(name)
    result = evaluate(model, get_dataset("cifar10").split("test").batches(spec, 500))
    assert result["n"] == 10000 and result["top1"] == pytest.approx(record["test_top1"], abs=1e-4)
    (row,) = [r for r in zoo_rows("cifar10") if r["name"] == name]
    assert row["test_top1"] == record["test_top1"]
    if row["role"] == "teacher":
        assert record["test_top1"] >= 0.85


def test_zoo_roles_follow_the_default_school():
    from lisq.commands.zoo import zoo_rows

    roles = {r["name"]: r["role"] for r in zoo_rows("fmnist")}
    assert {n for n, role in roles.items() if role == "teacher"} == {f"{n}.fmnist" for n in default_school("fmnist").names()}
    assert roles["resnet14.fmnist"] == "student"
