"""The `lisq` command: parse, call the API, print. Each verb lives in lisq.commands.<verb>."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from lisq import __version__, runtime
from lisq.errors import LisqError

# Each module defines register(subparsers) and sets `func(args) -> int` on its parser.
COMMAND_MODULES = ["zoo", "eval", "demo", "bench", "quantize", "export", "synth", "inspect"]
# Verbs that keep the CPU busy long enough for sharing it to matter.
COMPUTE_VERBS = {"eval", "demo", "bench", "quantize", "export", "synth", "inspect"}
# Verbs whose own --threads reaches their workers (synth's governor, bench's per-worker count, zoo train); the
# other compute verbs get a plain --threads here that sets torch's intra-op threads for the whole command.
OWN_THREADS = {"synth", "bench", "zoo"}
# The busy-machine note waits this long: a command that fails on bad input keeps its one-line error.
NOTE_DELAY_S = 10.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lisq", description="Data-free quantization by multi-teacher knowledge inversion.")
    parser.add_argument("--version", action="version", version=f"lisq {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"lisq.commands.{name}").register(subparsers)
    for name in sorted(COMPUTE_VERBS - OWN_THREADS):
        subparsers.choices[name].add_argument(
            "--threads", type=int, default=None,
            help="torch intra-op threads (default: the CPUs this process may use; OMP_NUM_THREADS is kept)")
    return parser


def configure_threads(args: argparse.Namespace):
    """Cap torch's threads at the CPUs this process may use. When other jobs already fill the cores (sampled
    now), the note is printed NOTE_DELAY_S later if the command still runs; returns that timer (or None)."""
    import os
    import threading

    import torch

    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise LisqError(f"--threads must be at least 1, got {threads}")
    if threads is not None and args.command not in OWN_THREADS:
        torch.set_num_threads(threads)
    if threads is None and "OMP_NUM_THREADS" not in os.environ:
        cpus = runtime.usable_cpus()
        if torch.get_num_threads() > cpus:
            torch.set_num_threads(cpus)
    if args.command == "synth" and threads is None and runtime.governor_allowed():
        return None  # synth follows the free cores itself (runtime.ThreadGovernor)
    if args.command in COMPUTE_VERBS and getattr(args, "jobs", 1) == 1:
        note = runtime.busy_note(threads or torch.get_num_threads())
        if note:
            if NOTE_DELAY_S <= 0:
                print(note, file=sys.stderr)
                return None
            timer = threading.Timer(NOTE_DELAY_S, print, args=(note,), kwargs={"file": sys.stderr, "flush": True})
            timer.daemon = True
            timer.start()
            return timer
    return None


def main(argv: list[str] | None = None) -> int:
    runtime.configure_process()  # before the verbs import torch: OpenMP reads its settings once
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    timer = None
    try:
        timer = configure_threads(args)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, not at exit: a reader that went away (`| head`) is handled below
        return code
    except BrokenPipeError:  # the reader of stdout closed it: stop quietly, like other shell tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush cannot fail again
        return 141  # 128 + SIGPIPE
    except LisqError as exc:
        if timer is not None:
            timer.cancel()
        print(f"lisq: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lisq: interrupted; rerun with --resume where the command supports it", file=sys.stderr)
        return 130
    finally:
        if timer is not None:
            timer.cancel()


if __name__ == "__main__":
    raise SystemExit(main())
