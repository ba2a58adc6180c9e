"""Real datasets (Fashion-MNIST, ImageFolder) and the synthetic-dataset reader."""

from lisq.data.fashion_mnist import CLASSES as FASHION_MNIST_CLASSES
from lisq.data.fashion_mnist import load_fashion_mnist
from lisq.data.image_folder import ImageFolderDataset
from lisq.data.synthetic import SyntheticDataset
from lisq.data.tensor_loader import TensorBatches
from lisq.data.transforms import Normalization

FASHION_MNIST_NORM = Normalization(mean=(0.2860,), std=(0.3530,))

__all__ = ["FASHION_MNIST_CLASSES", "FASHION_MNIST_NORM", "ImageFolderDataset", "Normalization", "SyntheticDataset", "TensorBatches", "load_fashion_mnist"]
