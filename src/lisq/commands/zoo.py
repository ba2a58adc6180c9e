"""`lisq zoo list|train`: the registered architectures and their shipped weights per dataset."""

from __future__ import annotations

import json

from lisq.data.registry import add_dataset_arg
from lisq.models import get_entry, list_models, list_pretrained, num_params, pretrained_record, split_name
from lisq.models.registry import create_model, weights_dir


def register(subparsers) -> None:
    zoo = subparsers.add_parser("zoo", help="list or train the model zoo (the shipped schools)")
    verbs = zoo.add_subparsers(dest="zoo_command", metavar="VERB", required=True)
    ls = verbs.add_parser("list", help="registered architectures and their pretrained accuracy per dataset")
    add_dataset_arg(ls, "; without it, every dataset with shipped weights")
    ls.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    ls.set_defaults(func=run_list)
    train = verbs.add_parser("train", help="train one architecture on a dataset's train split")
    train.add_argument("arch", help="registered architecture name (see `lisq zoo list`)")
    add_dataset_arg(train)
    train.add_argument("--epochs", type=int, default=None, help="default: the recipe's epochs for ARCH")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--lr", type=float, default=0.1)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--pad", type=int, default=None, help="random-shift padding in pixels (default 2 Fashion-MNIST, 4 CIFAR-10)")
    train.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    train.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke test)")
    train.add_argument("--out", default=None, help="output folder (default: $LISQ_WEIGHTS, else ~/.cache/lisq/weights)")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint of the last finished epoch")
    train.add_argument("--eval-every", type=int, default=0, metavar="N",
                       help="also measure test top-1 after every N-th epoch (into the record's history; default never)")
    train.add_argument("--init", default=None, metavar="WEIGHTS",
                       help="start from these weights (a file or a zoo name such as resnet14.cifar10) instead of a fresh "
                            "initialisation: a warm restart, e.g. with --lr 0.02 --epochs 15")
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(func=run_train)
    imp = verbs.add_parser("import", help="bring a checkpoint trained elsewhere into the zoo as ARCH.DATASET, with its input convention")
    imp.add_argument("arch", nargs="?", help="registered architecture whose module names the checkpoint uses (e.g. resnet20a)")
    imp.add_argument("--list", action="store_true", help="list the published checkpoints lisq can import by name")
    add_dataset_arg(imp)
    imp.add_argument("--weights", default=None,
                     help="safetensors, a torch state dict or {'state_dict': ...} (module. prefixes ok); default: the "
                          "published checkpoint lisq knows for ARCH.DATASET (`lisq zoo import --list`), found in "
                          "$LISQ_MODELS/DATASET or the cache, else downloaded once and checked by SHA-256")
    from lisq.data.spec import add_input_spec_args

    add_input_spec_args(imp)
    imp.add_argument("--out", default=None, help="output folder (default: $LISQ_WEIGHTS, else ~/.cache/lisq/weights)")
    imp.add_argument("--no-eval", dest="evaluate", action="store_false", help="do not measure the test top-1 for the record")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=run_import)


def _school_members(dataset: str) -> set[str]:
    """`arch.dataset` names of the teachers in the dataset's shipped default school (empty if it has none)."""
    from lisq.errors import LisqError
    from lisq.school import default_school

    try:
        names = default_school(dataset).names()
    except LisqError:
        return set()
    return {n if "." in n else f"{n}.{dataset}" for n in names}


def zoo_rows(dataset: str | None = None) -> list[dict]:
    """One row per shipped `arch.dataset` weight file; without `dataset` also architectures with none."""
    rows = []
    shipped = list_pretrained(dataset)
    members: dict[str, set[str]] = {}  # dataset -> its default school's teachers, read once
    for name in shipped:
        arch, ds = split_name(name)
        record = pretrained_record(name) or {}
        rows.append({
            "name": name, "arch": arch, "dataset": ds, "family": get_entry(arch).family,
            "params": record.get("params"), "pretrained": True, "test_top1": record.get("test_top1"),
            "role": "teacher" if name in members.setdefault(ds, _school_members(ds)) else "student",
        })
    if dataset is None:
        with_weights = {split_name(n)[0] for n in shipped}
        for arch in list_models():
            if arch not in with_weights:
                rows.append({"name": arch, "arch": arch, "dataset": None, "family": get_entry(arch).family,
                             "params": num_params(create_model(arch)), "pretrained": False, "test_top1": None,
                             "role": None})
    return rows


def run_list(args) -> int:
    if args.dataset:
        from lisq.data import get_dataset

        get_dataset(args.dataset)
    rows = zoo_rows(args.dataset)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'name':26s} {'family':11s} {'params':>8s}  test_top1  role")
    for r in rows:
        top1 = f"{100 * r['test_top1']:.2f}" if r["test_top1"] is not None else "-"
        print(f"{r['name']:26s} {r['family']:11s} {r['params'] or 0:8d}  {top1:>9s}  {r.get('role') or '-'}")
    return 0


def run_train(args) -> int:
    from lisq.data import get_dataset
    from lisq.errors import LisqError
    from lisq.zoo.train import DEFAULT_EPOCHS, DEFAULT_PAD, TrainConfig, train_model

    get_entry(args.arch)
    if "." in args.arch:
        raise LisqError(f"give the architecture ({args.arch.partition('.')[0]}) and --dataset {args.arch.partition('.')[2]}")
    dataset = get_dataset(args.dataset)
    if dataset.input is None:
        raise LisqError(f"{dataset.name} has no input convention of lisq's own; train on a registered dataset")
    if args.eval_every < 0:
        raise LisqError(f"--eval-every {args.eval_every}: give a number of epochs >= 1, or 0 for never")
    cfg = TrainConfig(
        args.arch, epochs=args.epochs or DEFAULT_EPOCHS.get(args.arch, 10), seed=args.seed, lr=args.lr,
        batch_size=args.batch_size, threads=args.threads, limit=args.limit, dataset=dataset.name,
        num_classes=dataset.input.num_classes, in_channels=dataset.input.channels,
        augment_pad=args.pad if args.pad is not None else DEFAULT_PAD.get(dataset.name, 2), init=args.init,
    )
    record = train_model(cfg, args.out or weights_dir(), progress=not args.quiet, resume=args.resume,
                         eval_every=args.eval_every)
    print(json.dumps({k: record[k] for k in ("arch", "dataset", "epochs", "seconds", "test_top1")}))
    return 0


def run_import(args) -> int:
    """Convert an outside checkpoint to ARCH.DATASET safetensors + a record carrying its input convention."""
    from lisq.data.spec import input_overrides
    from lisq.errors import LisqError
    from lisq.zoo import outside

    if args.list:
        for c in outside.CATALOGUE.values():
            print(f"{c.name:22s} {c.credit}")
        return 0
    if not args.arch:
        raise LisqError("name the architecture to import (e.g. `lisq zoo import resnet20a --dataset cifar10`)")
    record, path = outside.import_checkpoint(args.arch, args.dataset, args.weights, input_overrides(args),
                                             out=args.out, evaluate_top1=args.evaluate)
    summary = {"name": path.stem, "out": str(path.parent), "test_top1": record.get("test_top1")}
    print(json.dumps(summary) if args.json else f"imported {record['imported_from']} as {path.stem} in {path.parent}"
          + (f" (test top-1 {100 * record['test_top1']:.2f} %)" if "test_top1" in record else ""))
    return 0
