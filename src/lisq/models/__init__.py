"""Architectures, a registry (name -> factory) and the shipped Fashion-MNIST demo weights."""

from lisq.models import densenet, mobilenet, plain, resnet, shufflenet, vgg  # noqa: F401  (registers)
from lisq.models.checkpoint import load_weights, read_state_dict, save_weights
from lisq.models.registry import (
    create_model,
    get_entry,
    list_models,
    num_params,
    pretrained_path,
    pretrained_record,
    register_model,
)

__all__ = [
    "create_model",
    "get_entry",
    "list_models",
    "load_weights",
    "num_params",
    "pretrained_path",
    "pretrained_record",
    "read_state_dict",
    "register_model",
    "save_weights",
]
