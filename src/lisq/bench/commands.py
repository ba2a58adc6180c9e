"""Run lisq CLI verbs in-process (one torch import for the whole bench), capturing their JSON output."""

from __future__ import annotations

import contextlib
import io
import json

from lisq.errors import LisqError


def call(argv: list[str]) -> str:
    """Run `lisq ARGV` in this process; return stdout, raise LisqError with stderr's line on failure."""
    from lisq.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    if code != 0:
        last = (err.getvalue().strip().splitlines() or ["(no message)"])[-1]
        raise LisqError(f"`lisq {' '.join(argv)}` failed: {last}")
    return out.getvalue()


def call_json(argv: list[str]) -> dict:
    text = call(argv).strip().splitlines()
    if not text:
        raise LisqError(f"`lisq {' '.join(argv)}` printed nothing")
    return json.loads(text[-1])
