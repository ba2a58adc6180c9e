"""Published checkpoints of outside models that lisq knows by name: file, URL, SHA-256, input convention.

The weights are not shipped; `lisq zoo import ARCH --dataset D` fetches one (lisq.zoo.outside) and converts it.
"""

from __future__ import annotations

from dataclasses import dataclass

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
