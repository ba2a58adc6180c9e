import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lisq import cli, runtime


def test_lisq_shortens_the_openmp_spin_only_when_the_user_set_nothing():
    assert runtime.openmp_settings({}) == {"GOMP_SPINCOUNT": str(runtime.SPIN_COUNT)}
    assert runtime.openmp_settings({"OMP_WAIT_POLICY": "ACTIVE"}) == {}
    assert runtime.openmp_settings({"GOMP_SPINCOUNT": "300000"}) == {}
    assert runtime.openmp_settings({"LISQ_THREADS_POLICY": "off"}) == {}


def test_configure_process_sets_the_spin_before_torch_loads_and_children_inherit_it():
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "LISQ_THREADS_POLICY")}
    code = ("import os, subprocess, sys; from lisq import runtime; print(runtime.configure_process()); import torch; "
            "print(subprocess.run([sys.executable, '-c', 'import os; print(os.environ.get(\"GOMP_SPINCOUNT\"))'], "
            "capture_output=True, text=True).stdout.strip())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == repr({"GOMP_SPINCOUNT": str(runtime.SPIN_COUNT)})
    assert out[1] == str(runtime.SPIN_COUNT)
    # the user's own setting is kept
    out = subprocess.run([sys.executable, "-c", code], env={**env, "GOMP_SPINCOUNT": "123"}, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    assert out[0] == "{}" and out[1] == "123"


def test_configure_process_does_nothing_once_torch_is_loaded():
    environ: dict[str, str] = {}
    assert "torch" in sys.modules
    assert runtime.configure_process(environ) == {} and environ == {}


def test_busy_note_only_when_threads_exceed_the_free_cores():
    assert runtime.busy_note(2, cpus=2, others=0) is None
    assert runtime.busy_note(1, cpus=2, others=1) is None
    note = runtime.busy_note(2, cpus=2, others=1)
    assert note.startswith("lisq: note:") and "--threads 1" in note and "\n" not in note
    assert 1 <= runtime.usable_cpus() <= (os.cpu_count() or 1)
    assert runtime.other_runnable_tasks(samples=2, interval=0) >= 0


def test_cli_caps_torch_threads_at_the_usable_cpus(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runtime, "usable_cpus", lambda: 1)
    monkeypatch.setattr(runtime, "other_runnable_tasks", lambda: 0)
    try:
        torch.set_num_threads(2)
        cli.configure_threads(argparse.Namespace(command="synth", threads=None))
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)  # an explicit --threads is left to the verb
        cli.configure_threads(argparse.Namespace(command="synth", threads=2))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_every_compute_verb_takes_threads(monkeypatch, capsys):
    """eval, quantize, export, inspect and demo get a plain --threads (synth, bench and zoo keep their own)."""
    parser = cli.build_parser()
    for verb in cli.COMPUTE_VERBS:
        assert "--threads" in parser._subparsers._group_actions[0].choices[verb].format_usage(), verb
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        cli.configure_threads(argparse.Namespace(command="eval", threads=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    code = cli.main(["eval", "--model", "resnet8", "--threads", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--threads must be at least 1" in err


def test_cli_prints_one_note_on_a_busy_machine(monkeypatch, capsys):
    monkeypatch.setattr(runtime, "usable_cpus", lambda: 2)
    monkeypatch.setattr(runtime, "other_runnable_tasks", lambda: 2)
    monkeypatch.setattr(cli, "NOTE_DELAY_S", 0.0)
    cli.configure_threads(argparse.Namespace(command="synth", threads=2))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lisq: note:" in err
    cli.configure_threads(argparse.Namespace(command="zoo", threads=2))
    assert capsys.readouterr().err == ""


def test_the_note_waits_so_bad_input_keeps_its_one_line_error(monkeypatch, capsys, tmp_path):
    """On a busy machine a command that fails at once prints only its error; a long one gets the note later."""
    monkeypatch.setattr(runtime, "usable_cpus", lambda: 2)
    monkeypatch.setattr(runtime, "other_runnable_tasks", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    code = cli.main(["eval", "--model", "nope_net"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("lisq: error:")
    timer = cli.configure_threads(argparse.Namespace(command="quantize", threads=None))
    assert timer is not None and timer.interval == cli.NOTE_DELAY_S
    timer.cancel()
    # synth needs no note: its threads follow the free cores
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cli.configure_threads(argparse.Namespace(command="synth", threads=None)) is None


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_governor_follows_the_free_cores_with_a_median_and_a_rate_limit():
    others = iter([0.1, 1.8, 1.9, 0.9, 1.0, 1.1, 0.2, 0.1, 0.0])
    applied, clock = [], FakeClock()
    g = runtime.ThreadGovernor(2, cpus=2, every=0.5, window=3, sample=lambda: next(others), clock=clock, apply=applied.append)
    got = []
    for _ in range(9):
        clock.t += 0.6
        got.append(g())
        clock.t += 0.1
        assert g() == got[-1]  # a second call within `every` samples nothing
    # medians of the last 3: 0.1 0.95 1.8 1.8 1.0 1.0 1.0 0.2 0.1 -> free cores rounded, at least 1
    assert got == [2, 1, 1, 1, 1, 1, 1, 2, 2]
    assert applied == [1, 2] and g.changes == 2


def test_other_load_is_the_machine_busy_time_minus_this_process_own():
    t = FakeClock()
    load = runtime.OtherLoad(clock=t)
    t.t += 1.0
    x = load()
    assert 0.0 <= x <= runtime.usable_cpus() + 0.5


def test_governor_never_exceeds_the_threads_it_started_with():
    g = runtime.ThreadGovernor(1, cpus=4, every=0, window=1, sample=lambda: 0, apply=lambda n: None)
    assert g() == 1


def test_governor_is_off_when_the_user_sets_threads_or_turns_the_policy_off():
    assert runtime.governor_allowed({}) == runtime.measurable_cpus()
    assert not runtime.governor_allowed({"OMP_NUM_THREADS": "2"})
    assert not runtime.governor_allowed({"LISQ_THREADS_POLICY": "off"})


@pytest.mark.parametrize("dataset,teacher", [("fmnist", "resnet20"), ("cifar10", "resnet20.cifar10")])
def test_synthesis_bytes_do_not_depend_on_the_thread_count_as_it_changes(tmp_path, monkeypatch, dataset, teacher):
    """The governor changes threads between iterations; the images must be the same bytes as at a fixed count."""
    from lisq.school.synth import synthesize

    def run(out, flapping):
        if flapping:  # every iteration a different count: 2, 1, 2, 1, ...
            counts = iter([1, 0] * 100)
            real = runtime.ThreadGovernor
            monkeypatch.setattr(runtime, "ThreadGovernor", lambda most: real(
                2, cpus=2, every=0, window=1, sample=lambda: next(counts)))
            monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
            monkeypatch.delenv("LISQ_THREADS_POLICY", raising=False)
        summary = synthesize(out, teachers=[teacher], dataset=dataset, num_images=8, batch_size=8, iters=12,
                             generator="deepinversion", quiet=True, threads="auto" if flapping else 2)
        return summary

    fixed = run(tmp_path / "fixed", False)
    torch.set_num_threads(1)
    flap = run(tmp_path / "flap", True)
    assert "thread_changes" not in fixed and flap["thread_changes"] >= 10
    files = sorted(p.relative_to(tmp_path / "fixed") for p in (tmp_path / "fixed").rglob("*.png"))
    assert len(files) == 8
    for f in files + [Path("manifest.jsonl")]:
        assert (tmp_path / "fixed" / f).read_bytes() == (tmp_path / "flap" / f).read_bytes(), f
    assert torch.get_num_threads() == 1  # restored to what the caller had
