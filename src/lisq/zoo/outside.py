"""Published checkpoints that lisq knows how to bring in: where they live, their hash and input convention.

`lisq zoo import resnet20a --dataset cifar10` without `--weights` takes the file from a local folder
($LISQ_MODELS/<dataset>/, then the user cache) or downloads it once into the cache, checks its SHA-256,
and converts it like any other checkpoint. Nothing here is shipped: the weights stay their authors'.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from lisq.errors import LisqError
from lisq.models.published import CATALOGUE, IMAGENET_MEAN, IMAGENET_STD, OutsideCheckpoint, lookup

__all__ = ["CATALOGUE", "IMAGENET_MEAN", "IMAGENET_STD", "OutsideCheckpoint", "ensure_published", "fetch", "import_checkpoint", "lookup",
           "search_dirs", "sha256_of"]

def search_dirs(dataset: str) -> list[Path]:
    """Where a catalogue file is looked for before any download: $LISQ_MODELS/<dataset>, the user cache."""
    from lisq.data.registry import cache_root

    dirs = [Path(os.environ["LISQ_MODELS"]) / dataset] if os.environ.get("LISQ_MODELS") else []
    return dirs + [cache_root() / "models" / dataset]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(entry: OutsideCheckpoint, url: str | None = None, timeout: float = 60.0) -> Path:
    """A local copy of `entry` whose SHA-256 matches: found in a search folder, else downloaded into the cache."""
    for folder in search_dirs(entry.dataset):
        path = folder / entry.filename
        if path.is_file():
            if sha256_of(path) != entry.sha256:
                raise LisqError(f"{path} is not the published {entry.filename} (SHA-256 differs); delete it or pass --weights")
            return path
    target = search_dirs(entry.dataset)[-1] / entry.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url or entry.url, timeout=timeout) as resp, open(tmp, "wb") as f:
            while chunk := resp.read(1 << 20):
                f.write(chunk)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LisqError(f"{entry.filename} is not in {' or '.join(map(str, search_dirs(entry.dataset)))} and the "
                        f"download failed ({exc}); put the file there or pass --weights FILE") from None
    if sha256_of(tmp) != entry.sha256:
        tmp.unlink()
        raise LisqError(f"the downloaded {entry.filename} does not have the published SHA-256; try again later")
    os.replace(tmp, target)
    return target


def import_checkpoint(arch: str, dataset: str | None, weights: str | None = None, overrides: dict | None = None,
                      out: str | Path | None = None, evaluate_top1: bool = True) -> tuple[dict, Path]:
    """Convert a checkpoint made elsewhere into `arch.dataset` safetensors plus a record with its input convention.

    Without `weights` the published checkpoint of the catalogue is fetched and its normalisation used.
    `overrides` are InputSpec fields (mean, std, size...). Returns (record, path of the safetensors).
    """
    import json

    import torch

    from lisq.data import get_dataset
    from lisq.data.spec import apply_overrides
    from lisq.metrics.accuracy import evaluate
    from lisq.models.checkpoint import atomic_write, load_weights, save_weights
    from lisq.models.registry import create_model, get_entry, num_params, weights_dir, weights_name

    entry = get_entry(arch)
    if "." in arch:
        raise LisqError(f"give the architecture ({arch.partition('.')[0]}) and --dataset {arch.partition('.')[2]}")
    ds = get_dataset(dataset)
    if ds.input is None:
        raise LisqError(f"{ds.name} has no input convention; import into a registered dataset")
    overrides = dict(overrides or {})
    published = None
    if weights is None:
        published = lookup(arch, ds.name)
        weights = str(fetch(published))
        overrides = {"mean": published.mean, "std": published.std, **overrides}
    spec = apply_overrides(ds.input, overrides).replace(dataset=ds.name)
    model = create_model(arch, spec.num_classes, spec.channels)
    load_weights(model, weights)
    model.eval()
    record = {
        "arch": arch, "family": entry.family, "params": num_params(model), "dataset": ds.name,
        "input": spec.to_dict(), "imported_from": str(Path(weights).resolve()),
        "sha256": sha256_of(Path(weights)), "torch": torch.__version__,
    }
    if published is not None:
        record.update({"source_url": published.url, "credit": published.credit})
    if evaluate_top1:
        result = evaluate(model, ds.split(ds.evaluation_split).batches(spec, 500))
        record.update({"test_top1": result["top1"], "test_n": result["n"]})
    out = Path(out) if out else weights_dir()
    name = weights_name(arch, ds.name)
    save_weights(model, out / f"{name}.safetensors")
    atomic_write(out / f"{name}.json", lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
    return record, out / f"{name}.safetensors"


def ensure_published(name: str, dataset: str, say=None) -> None:
    """Import a published outside model (`resnet20a.cifar10`...) on first use: a local copy or one checked
    download, as `lisq zoo import` does. Names not in the catalogue, or already imported, are left alone."""
    from lisq.models import pretrained_path

    if name not in CATALOGUE or pretrained_path(name) is not None:
        return
    if say:
        say(f"importing the published {name} (held out: nobody on this project trained it)")
    record, path = import_checkpoint(name.partition(".")[0], dataset)
    if say:
        say(f"{name}: {100 * record['test_top1']:.2f} % on the real test split, saved in {path.parent}")
