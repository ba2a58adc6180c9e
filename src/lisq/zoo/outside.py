"""Published checkpoints that lisq knows how to bring in: where they live, their hash and input convention.

`lisq zoo import resnet20a --dataset cifar10` without `--weights` takes the file from a local folder
($LISQ_MODELS/<dataset>/, then the user cache) or downloads it once into the cache, checks its SHA-256,
and converts it like any other checkpoint. Nothing here is shipped: the weights stay their authors'.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lisq.errors import LisqError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AKAMASTER = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"


@dataclass(frozen=True)
class OutsideCheckpoint:
    arch: str  # the lisq architecture whose module names the checkpoint uses
    dataset: str
    filename: str
    url: str
    sha256: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    credit: str  # who trained it, its licence and its published figure

    @property
    def name(self) -> str:
        return f"{self.arch}.{self.dataset}"


CATALOGUE = {
    c.name: c
    for c in (
        OutsideCheckpoint("resnet20a", "cifar10", "resnet20-12fca82f.th", AKAMASTER + "resnet20-12fca82f.th",
                          "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8", IMAGENET_MEAN, IMAGENET_STD,
                          "Y. Idelbayev, pytorch_resnet_cifar10 (BSD-2-Clause); 91.73 % on the original CIFAR-10 test set"),
        OutsideCheckpoint("resnet32a", "cifar10", "resnet32-d509ac18.th", AKAMASTER + "resnet32-d509ac18.th",
                          "d509ac1820d7f25398913559d7e81a13229b1e7adc5648e3bfa5e22dc137f850", IMAGENET_MEAN, IMAGENET_STD,
                          "Y. Idelbayev, pytorch_resnet_cifar10 (BSD-2-Clause); 92.63 % on the original CIFAR-10 test set"),
    )
}


def lookup(arch: str, dataset: str) -> OutsideCheckpoint:
    entry = CATALOGUE.get(f"{arch}.{dataset}")
    if entry is None:
        known = ", ".join(sorted(CATALOGUE)) or "none"
        raise LisqError(f"no published checkpoint is known for {arch}.{dataset} (known: {known}); pass --weights FILE")
    return entry


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
