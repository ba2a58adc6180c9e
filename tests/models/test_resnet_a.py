"""Outside CIFAR-10 ResNets (option-A shortcuts): a checkpoint as such trainers save it loads as it is, and
`lisq zoo import` makes it a model reference that carries its own normalisation."""

import json
import os
from pathlib import Path

import pytest
import torch

from lisq.cli import main
from lisq.models import create_model

SHARED_MODELS = Path(os.environ.get("LISQ_SHARED") or Path(__file__).resolve().parents[3] / "shared") / "models" / "cifar10"


def wrapped_checkpoint(model, path):
    """{'state_dict': {'module.<key>': ...}, 'best_prec1': ...} without BN step counters (DataParallel era)."""
    state = {f"module.{k}": v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": state, "best_prec1": 91.7}, path)


def test_architecture_shapes_and_option_a_shortcut():
    model = create_model("resnet20a", 10, 3).eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == 269722  # ResNet-20 of He et al.: 0.27 M
    assert not any("shortcut" in k for k in model.state_dict())  # option A has no parameters
    assert sum(p.numel() for p in create_model("resnet32a", 10, 3).parameters()) == 464154


def test_zoo_import_carries_the_convention(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LISQ_WEIGHTS", str(tmp_path / "w"))
    torch.manual_seed(0)
    source = create_model("resnet20a", 10, 3).eval()
    wrapped_checkpoint(source, tmp_path / "r20.th")
    code = main(["zoo", "import", "resnet20a", "--dataset", "cifar10", "--weights", str(tmp_path / "r20.th"),
                 "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225", "--no-eval", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["name"] == "resnet20a.cifar10"
    from lisq.models.resolve import resolve_model

    model, spec = resolve_model("resnet20a.cifar10")
    assert spec.mean == (0.485, 0.456, 0.406) and spec.dataset == "cifar10"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), source(x))


class Custom:
    """Unpickling this needs code from this module: weights_only loading refuses it."""


def test_checkpoint_that_needs_code_is_refused(tmp_path, capsys):
    torch.save({"state_dict": Custom()}, tmp_path / "evil.th")
    code = main(["eval", "--model", "resnet20a", "--dataset", "cifar10", "--weights", str(tmp_path / "evil.th")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a readable torch state dict" in err


@pytest.mark.skipif(not SHARED_MODELS.is_dir(), reason="the shared outside CIFAR-10 checkpoints are not on this machine")
@pytest.mark.parametrize("arch, stem", [("resnet20a", "resnet20-12fca82f"), ("resnet32a", "resnet32-d509ac18")])
def test_real_outside_checkpoints_load(arch, stem):
    from lisq.models.checkpoint import load_weights

    model = create_model(arch, 10, 3)
    load_weights(model, SHARED_MODELS / f"{stem}.th")
    assert model.linear.weight.abs().sum() > 0
