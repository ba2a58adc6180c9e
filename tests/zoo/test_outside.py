"""Published outside checkpoints by name: found locally or downloaded once, checked by SHA-256, imported with
their own normalisation."""

import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch

from lisq.cli import main
from lisq.errors import LisqError
from lisq.models import create_model
from lisq.zoo import outside

SHARED_MODELS = Path(os.environ.get("LISQ_SHARED") or Path(__file__).resolve().parents[3] / "shared") / "models"


def fake_entry(tmp_path) -> outside.OutsideCheckpoint:
    """resnet20a.cifar10 as published, but pointing at a random-init checkpoint served from a file:// URL."""
    torch.manual_seed(0)
    state = {f"module.{k}": v for k, v in create_model("resnet20a", 10, 3).state_dict().items()
             if not k.endswith("num_batches_tracked")}
    served = tmp_path / "served" / "resnet20-test.th"
    served.parent.mkdir()
    torch.save({"state_dict": state, "best_prec1": 91.7}, served)
    return dataclasses.replace(outside.CATALOGUE["resnet20a.cifar10"], filename=served.name, url=served.as_uri(),
                               sha256=outside.sha256_of(served))


def test_fetch_downloads_once_into_the_cache_and_checks_the_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LISQ_MODELS", raising=False)
    entry = fake_entry(tmp_path)
    got = outside.fetch(entry)
    assert got == tmp_path / "cache" / "lisq" / "models" / "cifar10" / entry.filename
    assert outside.sha256_of(got) == entry.sha256
    assert outside.fetch(dataclasses.replace(entry, url="file:///nonexistent")) == got  # cached: no second download
    with pytest.raises(LisqError, match="SHA-256"):
        outside.fetch(dataclasses.replace(entry, filename="other.th", sha256="0" * 64))
    assert not (got.parent / "other.th").exists() and not (got.parent / "other.th.part").exists()
    with pytest.raises(LisqError, match="download failed"):
        outside.fetch(dataclasses.replace(entry, filename="missing.th", url="file:///nonexistent/missing.th"))


def test_a_local_copy_with_the_wrong_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LISQ_MODELS", str(tmp_path / "models"))
    entry = fake_entry(tmp_path)
    (tmp_path / "models" / "cifar10").mkdir(parents=True)
    (tmp_path / "models" / "cifar10" / entry.filename).write_bytes(b"not the checkpoint")
    with pytest.raises(LisqError, match="SHA-256 differs"):
        outside.fetch(entry)


def test_import_by_name_takes_the_published_convention(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LISQ_MODELS", raising=False)
    monkeypatch.setitem(outside.CATALOGUE, "resnet20a.cifar10", fake_entry(tmp_path))
    code = main(["zoo", "import", "resnet20a", "--dataset", "cifar10", "--out", str(tmp_path / "w"), "--no-eval", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["name"] == "resnet20a.cifar10"
    record = json.loads((tmp_path / "w" / "resnet20a.cifar10.json").read_text())
    assert record["input"]["mean"] == list(outside.IMAGENET_MEAN) and record["input"]["std"] == list(outside.IMAGENET_STD)
    assert record["source_url"].startswith("file://") and "Idelbayev" in record["credit"]


def test_unknown_names_and_the_list(capsys):
    assert main(["zoo", "import", "vgg7", "--dataset", "cifar10", "--no-eval"]) == 2
    assert "no published checkpoint is known for vgg7.cifar10" in capsys.readouterr().err
    assert main(["zoo", "import", "--list"]) == 0
    out = capsys.readouterr().out
    assert "resnet20a.cifar10" in out and "resnet32a.cifar10" in out


@pytest.mark.skipif(not (SHARED_MODELS / "cifar10").is_dir(), reason="the lent outside checkpoints are not here")
def test_the_catalogue_hashes_match_the_real_files():
    for entry in outside.CATALOGUE.values():
        assert outside.sha256_of(SHARED_MODELS / entry.dataset / entry.filename) == entry.sha256
