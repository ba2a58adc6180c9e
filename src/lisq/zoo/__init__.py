"""Training lisq's own teachers (the shipped schools): one recipe, any registered dataset."""

from lisq.zoo.train import DEFAULT_EPOCHS, TrainConfig, train_model

__all__ = ["DEFAULT_EPOCHS", "TrainConfig", "train_model"]
