"""`drest reproduce table1`: options it cannot honour are refused; one interrupt stops it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from drest.cli import main
from drest.io import read_jsonl
from drest.rl.rundir import RunDir
from drest.rl import table1
from drest.rl.table1 import GRACE_S


@pytest.mark.parametrize("item", ["algo=a2c", "reward=default", "total_steps=1M", "num_seeds=3"])
def test_set_of_what_table1_fixes_is_refused(tmp_path, capsys, item):
    assert main(["reproduce", "table1", "--out", str(tmp_path / "t"), "--no-progress", "--set", item]) == 2
    err = capsys.readouterr().err
    key = item.split("=")[0]
    assert err.count("\n") == 1 and f"--set {key}: reproduce table1 sets {key} itself" in err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("item, says", [
    ("a2c.algo=ppo", "--set a2c.algo: reproduce table1 sets algo itself"),
    ("a2c.colour=red", "unknown key 'a2c.colour'"),
    ("sac.lr=1e-3", "unknown key 'sac.lr'; known keys (or ppo.KEY / a2c.KEY for one only)"),
])
def test_bad_scoped_set_is_refused(tmp_path, capsys, item, says):
    assert main(["reproduce", "table1", "--out", str(tmp_path / "t"), "--no-progress", "--set", item]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
    assert not (tmp_path / "t").exists()


def test_scoped_set_reaches_one_algorithm_only(tmp_path):
    from drest.rl.config import parse_set

    overrides = parse_set(["eval_every=1M", "lr=3e-4", "a2c.lr=5e-4", "a2c.actor_hidden=3x256"], scopes=("ppo", "a2c"))
    plan = dict(table1._plan(tmp_path, 2_000_000, 1, overrides))
    for name, cfg in plan.items():
        a2c = name.startswith("a2c")
        assert cfg.eval_every == 1_000_000
        assert cfg.lr == (5e-4 if a2c else 3e-4)  # the scoped value wins over the unscoped one
        assert cfg.actor_hidden == ((256, 256, 256) if a2c else (64, 64)) and cfg.critic_hidden == (64, 64)
    assert sorted(plan) == ["a2c-default", "a2c-drest", "ppo-default", "ppo-drest"]


def test_train_takes_no_scoped_key(tmp_path, capsys):
    assert main(["train", "--steps", "2k", "--no-progress", "--out", str(tmp_path / "t"), "--set", "a2c.lr=1e-3"]) == 2
    assert "unknown key 'a2c.lr'; known keys: " in capsys.readouterr().err


def test_out_naming_a_file_is_refused_first(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["reproduce", "table1", "--out", str(tmp_path / "f"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out: " in err and "is a file" in err


class _FakeProcess:
    """A worker that never ends by itself; ``start`` is where the Ctrl-C(s) land. A stubborn
    one ignores SIGTERM (as a worker still compiling does) and only a kill ends it."""

    started: list = []
    interrupts, stubborn = 1, False

    def __init__(self, target, args, name):
        self.name, self.alive, self.exitcode, self.killed = name, False, None, False

    def start(self):
        self.alive = True
        for _ in range(self.interrupts):
            # to the main thread itself (os.kill may hand it to another thread, e.g. one of JAX's,
            # and Python would run the handler only after start() returned); the sleep is where
            # Python runs the handler, still inside start()
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            time.sleep(0.05)
        _FakeProcess.started.append(self)

    def is_alive(self):
        return self.alive

    def terminate(self):
        if not self.stubborn:
            self.alive, self.exitcode = False, 130

    def kill(self):
        self.alive, self.exitcode, self.killed = False, -9, True

    def join(self, timeout=None):
        pass


@pytest.mark.parametrize("interrupts", [1, 2])
def test_an_interrupt_inside_process_start_starts_nothing_more_and_stops_that_worker(tmp_path, monkeypatch,
                                                                                    interrupts):
    """The race CI hit: Ctrl-C raised inside ``Process.start()`` left a started worker
    unregistered (never stopped, waited for at exit) and let the loop go on. Two Ctrl-Cs
    stop at once: a worker that ignores SIGTERM is killed without waiting out the grace."""
    import multiprocessing

    class Ctx:
        Process = _FakeProcess

    _FakeProcess.started = []
    monkeypatch.setattr(_FakeProcess, "interrupts", interrupts)
    monkeypatch.setattr(_FakeProcess, "stubborn", interrupts == 2)
    monkeypatch.setattr(multiprocessing, "get_context", lambda method: Ctx)
    monkeypatch.setattr(table1, "GRACE_S", 0.1 if interrupts == 1 else 60.0)
    todo = [(f"run{i}", None) for i in range(4)]
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        table1._run_parallel(tmp_path, todo, jobs=2, progress=False, steps=1, tick=lambda: None)
    assert len(_FakeProcess.started) == 1  # the queued runs never started
    (worker,) = _FakeProcess.started
    assert not worker.alive and worker.killed == (interrupts == 2)  # the one that did was stopped
    assert time.monotonic() - t0 < 10  # the second Ctrl-C did not wait out the 60 s grace
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # handlers restored


TINY = dict(num_envs=16, num_steps=16, num_minibatches=2, actor_hidden=[16], critic_hidden=[16], eval_banks=["train"],
            eval_every=256)


def _evaluated(run_dir) -> int:
    return len(read_jsonl(run_dir / "metrics.jsonl", torn_tail_ok=True))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])  # a second Ctrl-C: the fake-worker test above
def test_one_interrupt_stops_the_whole_reproduction(tmp_path, how):
    out = tmp_path / "t"
    cmd = [sys.executable, "-m", "drest.cli", "reproduce", "table1", "--steps", str(256 * 2000), "--seeds", "1",
           "--jobs", "2", "--out", str(out), "--no-progress", *[f"--set={k}={json.dumps(v)}" for k, v in TINY.items()]]
    p = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"})
    first = [out / "ppo-drest", out / "ppo-default"]  # the two runs started; the A2C runs are queued
    deadline = time.monotonic() + 900
    while not all((d / "metrics.jsonl").exists() and _evaluated(d) >= 3 for d in first):  # past compiling
        assert p.poll() is None and time.monotonic() < deadline
        time.sleep(0.5)
    t0 = time.monotonic()
    if how == "sigterm":
        os.kill(p.pid, signal.SIGTERM)
    else:  # a terminal's Ctrl-C reaches the whole process group
        os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=GRACE_S + 30)
    took = time.monotonic() - t0
    assert p.returncode == 130, err[-3000:]
    assert "Traceback" not in err and took < GRACE_S + 5
    assert not (out / "a2c-drest").exists() and not (out / "a2c-default").exists()  # queued runs never started
    sizes = [(d / "metrics.jsonl").stat().st_size for d in first]
    time.sleep(3)
    assert sizes == [(d / "metrics.jsonl").stat().st_size for d in first]  # no worker left running
    for d in first:
        run = RunDir(d)
        assert run.meta is not None and not run.meta["done"] and len(run.records) == run.meta["records"] >= 2  # a kill may fall in the window
