"""The `lisq` command: parse, call the API, print. Each verb lives in lisq.commands.<verb>."""

from __future__ import annotations

import argparse
import importlib
import sys

from lisq import __version__, runtime
from lisq.errors import LisqError

# Each module defines register(subparsers) and sets `func(args) -> int` on its parser.
COMMAND_MODULES = ["zoo", "eval", "demo", "bench", "quantize", "export", "synth", "inspect"]
# Verbs that keep the CPU busy long enough for sharing it to matter.
COMPUTE_VERBS = {"eval", "demo", "bench", "quantize", "export", "synth", "inspect"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lisq", description="Data-free quantization by multi-teacher knowledge inversion.")
    parser.add_argument("--version", action="version", version=f"lisq {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"lisq.commands.{name}").register(subparsers)
    return parser


def configure_threads(args: argparse.Namespace) -> None:
    """Cap torch's threads at the CPUs this process may use; say so when other jobs already fill them."""
    import os

    import torch

    threads = getattr(args, "threads", None)
    if threads is None and "OMP_NUM_THREADS" not in os.environ:
        cpus = runtime.usable_cpus()
        if torch.get_num_threads() > cpus:
            torch.set_num_threads(cpus)
    if args.command in COMPUTE_VERBS and getattr(args, "jobs", 1) == 1:
        note = runtime.busy_note(threads or torch.get_num_threads())
        if note:
            print(note, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    runtime.configure_process()  # before the verbs import torch: OpenMP reads its settings once
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    configure_threads(args)
    try:
        return int(args.func(args) or 0)
    except LisqError as exc:
        print(f"lisq: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lisq: interrupted; rerun with --resume where the command supports it", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
