"""`lisq inspect DIR --judges a,b`: fidelity, diversity, BN distance, Frechet distance; quality.json + grid.png."""

from __future__ import annotations

import json
from pathlib import Path

from lisq.errors import LisqError
from lisq.metrics.inspect import inspect_dataset


def register(subparsers) -> None:
    p = subparsers.add_parser("inspect", help="quality of a synthetic dataset as judged by models (SPEC section 10)")
    p.add_argument("dir", help="a directory written by `lisq synth`")
    p.add_argument("--judges", default=None,
                   help="comma-separated model references (default: the dataset's models held out of its default school; "
                        "fmnist: mobilenetv2_050,resnet14,shufflenetv2_s)")
    from lisq.data.registry import add_dataset_arg

    add_dataset_arg(p, "; default: the one the set was synthesized for")
    p.add_argument("--val", default=None, metavar="DIR", help="real images for the Frechet reference instead of the test split")
    p.add_argument("--real-limit", type=int, default=10000, help="real test images for the Frechet distance (0: skip)")
    p.add_argument("--per-class", type=int, default=8, help="images per class in grid.png")
    p.add_argument("--limit", type=int, default=None, help="score only the first N images of the manifest (compare sets of equal size)")
    p.add_argument("--json", action="store_true", help="print quality.json to stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    judges = None
    if args.judges is not None:
        judges = [j.strip() for j in args.judges.split(",") if j.strip()]
        if not judges:
            raise LisqError("--judges is empty; give model references, e.g. --judges mobilenetv2_050,resnet14")
    report = inspect_dataset(args.dir, judges, args.real_limit, args.per_class, args.limit, args.dataset, args.val)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['dir']}: {report['n']} images ({report['generator']})")
    print(f"{'judge':18s} {'school':6s} {'fidelity':>8s} {'divers.':>8s} {'BN dist':>8s} {'Frechet':>9s}")
    for name, r in report["judges"].items():
        fd, bn, dv = r.get("frechet"), r["bn_distance"], r["diversity"]["overall"]

        def num(v, width, digits):
            return f"{v:{width}.{digits}f}" if v is not None else f"{'-':>{width}s}"

        print(f"{name:18s} {'in' if r['in_school'] else 'out':6s} {r['fidelity']:8.3f} {num(dv, 8, 3)} "
              f"{num(bn, 8, 3)} {num(fd, 9, 2)}")
    print(f"wrote {Path(args.dir) / 'quality.json'} and {Path(args.dir) / 'grid.png'}")
    return 0
