"""What several verbs share: a model reference + flags -> (module, InputSpec, DatasetSpec), and real batches."""

from __future__ import annotations

from lisq.data import get_dataset
from lisq.data.registry import DatasetSpec, evaluation_source
from lisq.data.spec import InputSpec, input_overrides
from lisq.errors import LisqError


def model_and_dataset(ref: str, weights: str | None, dataset: str | None, args) -> tuple[object, InputSpec, DatasetSpec]:
    """Build the model of a reference with its own convention (flags override); the dataset is --dataset,
    else the one the reference names (`arch.cifar10`, `effnet:lite0` -> imagenet), else the --val folder's
    classes for a model of no label space of its own, else Fashion-MNIST. A model of another label space
    than the dataset is refused with one line."""
    from lisq.models.resolve import build_model, model_input, reference_dataset

    if dataset is None and getattr(args, "val", None) and reference_dataset(ref) is None and ":" in ref:
        dataset = f"folder:{args.val}"
    spec = model_input(ref, weights, dataset, input_overrides(args))
    ds = get_dataset(dataset or spec.dataset)
    if dataset and ds.input is None:  # folder:PATH: the model's convention, that dataset's labels
        spec = spec.replace(dataset=ds.name)
    ds.check_model(spec, f"model {ref!r}")
    return build_model(ref, weights, spec, dataset=dataset), spec, ds


def real_batches(ds: DatasetSpec, spec: InputSpec, split: str | None, val: str | None, batch_size: int,
                 limit: int | None = None, class_index: str | None = None, workers: int = 0):
    """(batches of normalised inputs and labels, a description) of --val DIR or a split of the dataset."""
    source = evaluation_source(ds, split, val, class_index)
    if val:
        desc = val if source.split == str(val) else f"{val} ({source.split.rpartition('-')[2]} part)"
    else:
        desc = source.split
    if hasattr(source, "check"):
        try:
            source.check(spec)
        except LisqError as exc:
            raise LisqError(f"{exc}; or evaluate on your own labelled images with --val DIR") from None
    if workers and hasattr(source, "dataset_view"):
        return source.batches(spec, batch_size, limit, workers), desc
    return source.batches(spec, batch_size, limit), desc
