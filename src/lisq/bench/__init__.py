"""`lisq bench`: the SPEC section-11 comparison, resumable, built on the public CLI verbs."""

from lisq.bench.config import BenchConfig, load_bench_config
from lisq.bench.runner import run_bench

__all__ = ["BenchConfig", "load_bench_config", "run_bench"]
