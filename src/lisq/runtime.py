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


def busy_cpu_seconds(cpus: set[int] | None = None) -> float | None:
    """CPU seconds spent busy (user, nice, system, irq, softirq) on `cpus` since boot, from /proc/stat; None if unreadable."""
    cpus = os.sched_getaffinity(0) if cpus is None else cpus
    tick = os.sysconf("SC_CLK_TCK")
    busy = 0
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            name = line.split(maxsplit=1)[0]
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                f = [int(v) for v in line.split()[1:8]]
                busy += f[0] + f[1] + f[2] + f[5] + f[6]
    except (OSError, ValueError, IndexError):
        return None
    return busy / tick


class OtherLoad:
    """Cores that other processes kept busy since the last call: the busy time of this process's CPUs minus its
    own CPU time (spinning OpenMP workers included on both sides), over the wall time between calls.

    An integral over the interval, so it does not depend on catching a thread at the right instant."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.prev = self._read()

    def _read(self):
        busy = busy_cpu_seconds()
        return None if busy is None else (self.clock(), busy, time.process_time())

    def __call__(self) -> float:
        now = self._read()
        if now is None or self.prev is None:
            return 0.0
        (t0, b0, o0), (t1, b1, o1) = self.prev, now
        self.prev = now
        if t1 - t0 <= 0:
            return 0.0
        return max(0.0, ((b1 - b0) - (o1 - o0)) / (t1 - t0))


def measurable_cpus() -> bool:
    """Whether /proc/stat shows the CPUs this process gets: not when a cgroup quota grants fewer than the mask."""
    try:
        mask = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return False
    quota = _cgroup_quota()
    return busy_cpu_seconds() is not None and (quota is None or quota >= mask)


class ThreadGovernor:
    """Keeps torch's intra-op threads at the cores other jobs leave free, between steps of a loop.

    Call it at points where no torch op runs (between synthesis iterations): at most every `every` seconds
    it measures the cores other processes kept busy since the last sample (OtherLoad) and sets the threads
    to the free cores, rounded (at least 1, at most `most`), from the median of the last `window` samples.
    Torch applies the count on the calling thread, so it must be the one running the ops. Two jobs started
    together both drop to one thread each within about a second and rise again when the other ends.
    """

    def __init__(self, most: int, cpus: int | None = None, every: float = 0.5, window: int = 3,
                 sample: Callable[[], float] | None = None, clock: Callable[[], float] = time.monotonic,
                 apply: Callable[[int], None] | None = None):
        if apply is None:
            import torch

            apply = torch.set_num_threads
        self.most, self.cpus = max(1, most), usable_cpus() if cpus is None else cpus
        self.every, self.samples, self.window = every, [], window
        self.sample = OtherLoad(clock) if sample is None else sample
        self.clock, self.apply = clock, apply
        self.threads, self.changes, self.last = self.most, 0, clock()

    def __call__(self) -> int:
        now = self.clock()
        if now - self.last < self.every:
            return self.threads
        self.last = now
        self.samples = (self.samples + [self.sample()])[-self.window:]
        free = self.cpus - statistics.median(self.samples)
        want = max(1, min(self.most, math.floor(free + 0.5)))
        if want != self.threads:
            self.apply(want)
            self.threads, self.changes = want, self.changes + 1
        return self.threads


def governor_allowed(environ: MutableMapping[str, str] | None = None) -> bool:
    """Whether lisq may choose the thread count itself: the user set none and did not turn lisq's policy off."""
    environ = os.environ if environ is None else environ
    if environ.get(OFF_SWITCH, "").lower() in ("off", "0", "no", "false"):
        return False
    if any(key in environ for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")):
        return False
    return measurable_cpus()
