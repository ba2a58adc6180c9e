"""`lisq bench --config configs/fmnist.yaml [--quick]`: the paper's comparison, resumable."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="generators x students x settings x seeds on real test data")
    p.add_argument("--config", required=True, help="bench recipe, e.g. configs/fmnist.yaml")
    p.add_argument("--quick", action="store_true", help="apply the recipe's `quick:` overrides (minutes, not hours)")
    p.add_argument("--out", default=None, help="results directory (default: the recipe's `out`)")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes running datasets and cells side by side (default 1)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: cores / jobs)")
    for key, example in (("generators", "lis-hierarchical,real"), ("students", "mobilenetv2_050"),
                         ("settings", "brecq-W2A4,brecq-W3A3"), ("seeds", "0")):
        p.add_argument(f"--{key}", default=None, help=f"run only these (comma-separated, e.g. {example}); the rest stays for later")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would run (datasets, cells done and to run, a time estimate) and stop")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from lisq.bench import load_bench_config, run_bench
    from lisq.bench.runner import ONLY_KEYS, check_only
    from lisq.errors import LisqError

    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        raise LisqError("--jobs and --threads must be at least 1")
    cfg = load_bench_config(args.config, quick=args.quick)
    only = {k: set(v.split(",")) for k in ONLY_KEYS if (v := getattr(args, k))}
    check_only(cfg, only)
    if args.dry_run:
        from lisq.bench.runner import describe_plan

        print(describe_plan(cfg, args.out, only or None, jobs=args.jobs))
        return 0
    out = run_bench(cfg, args.out, quiet=args.quiet, jobs=args.jobs, threads=args.threads, only=only or None)
    print(f"results: {out / 'results.csv'}, table: {out / 'results.md'}, plots: {out / 'accuracy.png'}")
    return 0
