import argparse
import os
import subprocess
import sys

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
    timer = cli.configure_threads(argparse.Namespace(command="synth", threads=None))
    assert timer is not None and timer.interval == cli.NOTE_DELAY_S
    timer.cancel()
