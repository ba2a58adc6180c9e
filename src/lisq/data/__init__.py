"""Datasets as first-class objects: the registry of label spaces, their real splits, the one input
convention (InputSpec) and the synthetic-dataset reader."""

from lisq.data import cifar10, fashion_mnist, imagenet  # noqa: F401  (each registers its DatasetSpec)
from lisq.data.cifar10 import load_cifar10
from lisq.data.fashion_mnist import CLASSES as FASHION_MNIST_CLASSES
from lisq.data.fashion_mnist import load_fashion_mnist
from lisq.data.image_folder import ImageFolderDataset
from lisq.data.registry import DEFAULT_DATASET, DatasetSpec, get_dataset, list_datasets, register_dataset
from lisq.data.spec import FASHION_MNIST_SPEC, IMAGENET_SPEC, InputSpec
from lisq.data.splits import FileSplit, RealSplit, TensorSplit
from lisq.data.synthetic import SyntheticDataset
from lisq.data.tensor_loader import TensorBatches
from lisq.data.transforms import Normalization

FASHION_MNIST_NORM = Normalization(mean=(0.2860,), std=(0.3530,))

__all__ = [
    "DEFAULT_DATASET", "DatasetSpec", "FASHION_MNIST_CLASSES", "FASHION_MNIST_NORM", "FASHION_MNIST_SPEC", "FileSplit",
    "IMAGENET_SPEC", "ImageFolderDataset", "InputSpec", "Normalization", "RealSplit", "SyntheticDataset",
    "TensorBatches", "TensorSplit", "get_dataset", "list_datasets", "load_cifar10", "load_fashion_mnist",
    "register_dataset",
]
