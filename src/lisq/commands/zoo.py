"""`lisq zoo list|train`: the registered architectures and their shipped Fashion-MNIST weights."""

from __future__ import annotations

import json

from lisq.models import get_entry, list_models, num_params, pretrained_path, pretrained_record
from lisq.models.registry import create_model, weights_dir


def register(subparsers) -> None:
    zoo = subparsers.add_parser("zoo", help="list or train the model zoo (the demo school)")
    verbs = zoo.add_subparsers(dest="zoo_command", metavar="VERB", required=True)
    ls = verbs.add_parser("list", help="registered architectures and their pretrained accuracy")
    ls.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    ls.set_defaults(func=run_list)
    train = verbs.add_parser("train", help="train one architecture on Fashion-MNIST")
    train.add_argument("arch", help="registered architecture name (see `lisq zoo list`)")
    train.add_argument("--epochs", type=int, default=None, help="default: the recipe's epochs for ARCH")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--lr", type=float, default=0.1)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    train.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke test)")
    train.add_argument("--out", default=None, help="output folder (default: the package's weights folder)")
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(func=run_train)


def zoo_rows() -> list[dict]:
    rows = []
    for name in list_models():
        record = pretrained_record(name)
        rows.append({
            "name": name,
            "family": get_entry(name).family,
            "params": num_params(create_model(name)),
            "pretrained": pretrained_path(name) is not None,
            "test_top1": record["test_top1"] if record else None,
        })
    return rows


def run_list(args) -> int:
    rows = zoo_rows()
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'name':18s} {'family':11s} {'params':>8s}  pretrained  test_top1")
    for r in rows:
        top1 = f"{100 * r['test_top1']:.2f}" if r["test_top1"] is not None else "-"
        print(f"{r['name']:18s} {r['family']:11s} {r['params']:8d}  {str(r['pretrained']):10s}  {top1}")
    return 0


def run_train(args) -> int:
    from lisq.models.train import DEFAULT_EPOCHS, TrainConfig, train_model

    get_entry(args.arch)
    cfg = TrainConfig(
        args.arch, epochs=args.epochs or DEFAULT_EPOCHS.get(args.arch, 10), seed=args.seed, lr=args.lr,
        batch_size=args.batch_size, threads=args.threads, limit=args.limit,
    )
    record = train_model(cfg, args.out or weights_dir(), progress=not args.quiet)
    print(json.dumps({k: record[k] for k in ("arch", "epochs", "seconds", "test_top1")}))
    return 0
