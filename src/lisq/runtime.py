"""How a lisq process shares the CPU: how OpenMP threads wait, and how many threads to use.

PyTorch's CPU build runs its intra-op threads on GNU OpenMP, whose idle threads spin for about
300,000 iterations before they sleep. Alone that is fast; beside a second job the spinning threads
take the very cores the other job waits for, and two lisq jobs on 2 cores took 3-8x their idle time
instead of 2x (benchmarks/busy_machine.py). OpenMP reads its settings once, when torch is loaded,
so the `lisq` command sets a shorter spin before anything imports torch. A user's own
OMP_WAIT_POLICY / GOMP_SPINCOUNT win, and LISQ_THREADS_POLICY=off turns all of this off.

Only waiting changes, never the arithmetic: the same thread count gives the same bytes.

A short spin is not enough on its own once the loop dominates (two 60-iteration synth jobs still took
3.3x their idle time), so `lisq synth` also lets its thread count follow the cores other jobs leave free
(ThreadGovernor), re-read between iterations. Synthesis writes 8-bit images whose bytes do not depend on
the thread count (tests/test_runtime.py checks it), so this changes speed, not results.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path

# Busy-wait iterations before an idle OpenMP thread sleeps (libgomp's default is 300,000).
# Chosen on 2 cores with benchmarks/busy_machine.py; the figures are in RESULTS.md.
SPIN_COUNT = 8000
USER_WAIT_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
OFF_SWITCH = "LISQ_THREADS_POLICY"


def openmp_settings(environ: MutableMapping[str, str]) -> dict[str, str]:
    """The OpenMP variables lisq would add to `environ`: none if the user set any wait setting."""
    if environ.get(OFF_SWITCH, "").lower() in ("off", "0", "no", "false"):
        return {}
    if any(key in environ for key in USER_WAIT_KEYS):
        return {}
    return {"GOMP_SPINCOUNT": str(SPIN_COUNT)}


def configure_process(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set lisq's OpenMP wait policy for this process and its children; call before torch is imported.

    Returns what was set. Once torch is loaded OpenMP has read its environment, so nothing is set then.
    """
    environ = os.environ if environ is None else environ
    if "torch" in sys.modules:
        return {}
    settings = openmp_settings(environ)
    environ.update(settings)
    return settings


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota if one is set."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cpus, quota) if quota else cpus)


def _cgroup_quota() -> int | None:
    """Whole CPUs granted by a cgroup v2 `cpu.max` quota (e.g. `docker --cpus 2`), or None."""
    try:
        fields = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    return max(1, math.ceil(int(fields[0]) / int(fields[1])))


def other_runnable_tasks(samples: int = 5, interval: float = 0.01) -> int:
    """Runnable tasks on this machine besides this process's running thread (median of a few samples)."""
    counts = []
    for i in range(samples):
        try:
            counts.append(int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1)
        except (OSError, IndexError, ValueError):
            return 0
        if i + 1 < samples:
            time.sleep(interval)
    return max(0, sorted(counts)[len(counts) // 2])


def busy_note(threads: int, cpus: int | None = None, others: int | None = None) -> str | None:
    """One line when `threads` exceed the cores other jobs leave free, else None."""
    cpus = usable_cpus() if cpus is None else cpus
    others = other_runnable_tasks() if others is None else others
    free = max(1, cpus - others)
    if others == 0 or threads <= free:
        return None
    return (f"lisq: note: {others} other runnable task(s) on {cpus} CPU(s) and this job uses {threads} threads; "
            f"jobs will slow each other down (pass --threads {free} or set OMP_NUM_THREADS={free} to share)")


def running_tasks() -> tuple[int, int]:
    """(runnable tasks on the machine, runnable threads of this process), both counting the caller."""
    total = own = 0
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("procs_running "):
                total = int(line.split()[1])
                break
        for task in Path("/proc/self/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:  # the thread ended
                continue
            own += stat[stat.rindex(")") + 2] == "R"
    except (OSError, ValueError):
        return 0, 0
    return total, max(1, own)


def other_jobs_running() -> int:
    """Runnable threads of other processes right now (ours, spinning OpenMP workers included, excluded)."""
    total, own = running_tasks()
    return max(0, total - own)


class ThreadGovernor:
    """Keeps torch's intra-op threads at the cores other jobs leave free, between steps of a loop.

    Call it at points where no torch op runs (between synthesis iterations): at most every `every` seconds
    it samples the other runnable tasks, and sets the threads to the free cores (at least 1, at most
    `most`) from the median of the last `window` samples. Torch applies the count on the calling thread,
    so it must be the one running the ops. Two jobs started together both drop to one thread each within
    about a second and rise again when the other ends.
    """

    def __init__(self, most: int, cpus: int | None = None, every: float = 0.25, window: int = 4,
                 sample: Callable[[], int] = other_jobs_running, clock: Callable[[], float] = time.monotonic,
                 apply: Callable[[int], None] | None = None):
        if apply is None:
            import torch

            apply = torch.set_num_threads
        self.most, self.cpus = max(1, most), usable_cpus() if cpus is None else cpus
        self.every, self.samples = every, []
        self.window, self.sample, self.clock, self.apply = window, sample, clock, apply
        self.threads, self.changes, self.last = self.most, 0, None

    def __call__(self) -> int:
        now = self.clock()
        if self.last is not None and now - self.last < self.every:
            return self.threads
        self.last = now
        self.samples = (self.samples + [self.sample()])[-self.window:]
        others = statistics.median_low(self.samples)
        want = max(1, min(self.most, self.cpus - others))
        if want != self.threads:
            self.apply(want)
            self.threads, self.changes = want, self.changes + 1
        return self.threads


def governor_allowed(environ: MutableMapping[str, str] | None = None) -> bool:
    """Whether lisq may choose the thread count itself: the user set none and did not turn lisq's policy off."""
    environ = os.environ if environ is None else environ
    if environ.get(OFF_SWITCH, "").lower() in ("off", "0", "no", "false"):
        return False
    return not any(key in environ for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"))
