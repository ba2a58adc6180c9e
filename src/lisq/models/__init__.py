"""Architectures, a registry (name -> factory) and the shipped weights (arch.dataset)."""

from lisq.models import densenet, mobilenet, plain, resnet, resnet_a, shufflenet, vgg  # noqa: F401  (registers)
from lisq.models.checkpoint import load_weights, read_state_dict, save_weights
from lisq.models.registry import (
    create_model,
    get_entry,
    is_registered,
    list_models,
    list_pretrained,
    num_params,
    pretrained_input,
    pretrained_path,
    pretrained_record,
    register_model,
    split_name,
)

__all__ = [
    "create_model",
    "get_entry",
    "is_registered",
    "list_models",
    "list_pretrained",
    "load_weights",
    "num_params",
    "pretrained_input",
    "pretrained_path",
    "pretrained_record",
    "read_state_dict",
    "register_model",
    "save_weights",
    "split_name",
]
