"""Run directories under faults: a kill at any instant of the record/checkpoint window, damaged
checkpoints and logs, duplicate records, banks of another grid size, a disk that fills up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drest.cli import main
from drest.errors import DrestError
from drest.io import read_jsonl
from drest.report.inputs import collect
from drest.rl import runs
from drest.rl.config import TrainConfig, from_dict, save_config
from drest.rl.rundir import CHECKPOINT, PREVIOUS, RunDir

# 1 seed, 2 updates of 256 steps, evaluated on the train bank before training and after each update
TINY = dict(num_envs=16, num_steps=16, num_minibatches=2, actor_hidden=[16], critic_hidden=[16], eval_banks=["train"],
            total_steps=16 * 16 * 3, eval_every=16 * 16, num_seeds=2)
ARGV = [f"--set={k}={json.dumps(v)}" for k, v in TINY.items()]


def _numbers(run_dir):
    """Every record as written (no de-duplication), timing fields dropped."""
    return [{k: v for k, v in r.items() if k not in ("wall_time", "steps_per_sec")}
            for r in read_jsonl(Path(run_dir) / "metrics.jsonl")]


def _same_checkpoint(a, b):
    za, zb = np.load(Path(a) / CHECKPOINT), np.load(Path(b) / CHECKPOINT)
    assert za.files == zb.files
    for k in za.files:
        if k != "meta":
            np.testing.assert_array_equal(za[k], zb[k])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of TINY (with its curves logged to TensorBoard too)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    runs.train_run(from_dict(TINY), out, progress=False, log=("tensorboard",))
    return out


def test_curves_go_to_tensorboard(reference):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(reference / "tensorboard"))
    ea.Reload()
    recs = RunDir(reference).records
    for metric in ("neutrality", "usefulness"):
        got = [(e.step, e.value) for e in ea.Scalars(f"train/{metric}")]
        want = [(s, np.mean([r[metric] for r in recs if r["env_steps"] == s])) for s in (0, 256, 512, 768)]
        assert [s for s, _ in got] == [s for s, _ in want]
        np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-6)
        seed1 = [e.value for e in ea.Scalars(f"train/{metric}/seed_1")]
        np.testing.assert_allclose(seed1, [r[metric] for r in recs if r["seed"] == 1], rtol=1e-6)
    assert [e.step for e in ea.Scalars("loss/loss")] == [256, 512, 768]
    assert all(e.value > 0 for e in ea.Scalars("speed/env_steps_per_sec"))


def _cli_train(*args, fault=None):
    """``drest train`` in its own process (one CPU device per core, as users run it)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **({"DREST_FAULT": fault} if fault else {})}
    return subprocess.run([sys.executable, "-m", "drest.cli", "train", "--no-progress", *args],
                          env=env, capture_output=True, text=True, timeout=600)


def _killed_train(out, fault):
    p = _cli_train("--out", str(out), *ARGV, fault=fault)
    assert p.returncode == -9, p.stderr[-2000:]  # SIGKILL, at the injected point


@pytest.fixture(scope="module")
def cli_reference(tmp_path_factory):
    """An uninterrupted ``drest train`` of TINY in its own process: the killed runs' layout
    (seeds over the process's devices) rounds differently from an in-process run."""
    out = tmp_path_factory.mktemp("cli-ref") / "run"
    p = _cli_train("--out", str(out), *ARGV)
    assert p.returncode == 0, p.stderr[-2000:]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("fault", [
    # after the 2nd evaluation's records are on disk, before the checkpoint that counts them
    "appended:metrics.jsonl:2",
    # half of the 3rd evaluation's records written (a torn last line)
    "append:metrics.jsonl:3",
    # the old checkpoint moved aside, the new one not yet in place (only checkpoint.prev.npz)
    "replace:checkpoint.npz:4",
])
def test_kill_in_the_record_checkpoint_window_then_resume(tmp_path, cli_reference, fault):
    out = tmp_path / "run"
    _killed_train(out, fault)
    p = _cli_train("--resume", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    got, want = _numbers(out), _numbers(cli_reference)
    keys = [(r["seed"], r["env_steps"], r["split"]) for r in got]
    assert len(keys) == len(set(keys)) == 4 * 2  # 4 evaluations x 2 seeds, none twice
    assert got == want
    _same_checkpoint(out, cli_reference)


@pytest.mark.slow
def test_old_checkpoint_without_record_count_resumes_without_duplicates(tmp_path, reference):
    """A run killed in the window by an older drest (checkpoint meta without ``records``)."""
    out = tmp_path / "run"
    runs.train_run(from_dict(TINY), out, progress=False, stop_after_chunks=1)
    meta = RunDir(out).meta
    state, _, _ = RunDir(out).load_state()
    # as the old code left it: the chunk-2 evaluation appended, its checkpoint not yet saying so
    extra = [dict(r, env_steps=512) for r in read_jsonl(out / "metrics.jsonl")[-2:]]
    with open(out / "metrics.jsonl", "a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in extra))
    meta = {k: v for k, v in meta.items() if k != "records"}
    runs.save_checkpoint(out, state, meta)
    assert len(RunDir(out).records) == 4  # readers ignore the uncounted evaluation at the checkpoint's step
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert _numbers(out) == _numbers(reference)


def test_device_copies_are_stored_once(tmp_path):
    """A leaf whose rows along the device axis are identical is stored once and read back whole."""
    from drest.rl.rundir import _read_npz, save_checkpoint

    params = np.tile(np.arange(6, dtype=np.float32).reshape(1, 2, 3), (2, 1, 1))  # [D=2, 2, 3], replicated
    env = np.arange(12, dtype=np.int32).reshape(2, 6)  # per device: differs
    tmp_path.mkdir(exist_ok=True)
    save_checkpoint(tmp_path, [params, env, np.float32(1.5)], {"update": 3})
    with np.load(tmp_path / CHECKPOINT) as z:
        assert sorted(z.files) == ["leaf_0000_x2", "leaf_0001", "leaf_0002", "meta"]
        assert z["leaf_0000_x2"].shape == (1, 2, 3)
    meta, leaves = _read_npz(tmp_path / CHECKPOINT, 3)
    assert meta == {"update": 3}
    np.testing.assert_array_equal(leaves[0], params)
    np.testing.assert_array_equal(leaves[1], env)
    assert leaves[2] == np.float32(1.5)


def _copy(reference, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    return out


@pytest.mark.parametrize("damage", ["empty", "truncated", "bitflip"])
def test_damaged_checkpoint_falls_back_to_the_previous_one(tmp_path, reference, capsys, damage):
    out = _copy(reference, tmp_path)
    ck = out / CHECKPOINT
    data = bytearray(ck.read_bytes())
    if damage == "empty":
        data = b""
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3] ^= 0x10
    ck.write_bytes(bytes(data))
    assert main(["eval", str(out), "--bank", "paper-train"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint.npz' is damaged" in err
    assert "the previous checkpoint (768 env steps) is intact: drest train --resume" in err
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "using the previous checkpoint (768 env steps)" in err
    assert _numbers(out) == _numbers(reference)
    _same_checkpoint(out, reference)
    assert (out / "checkpoint.damaged.npz").exists()
    # both copies damaged: one line, nothing to fall back on
    (out / CHECKPOINT).write_bytes(b"")
    (out / PREVIOUS).write_bytes(b"PK\x03\x04junk")
    assert main(["eval", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "and so is the previous checkpoint" in err and "start the run again" in err


def test_garbage_in_metrics_log(tmp_path, reference, capsys):
    out = _copy(reference, tmp_path)
    # past the committed records (a crash mid-append): dropped on resume, ignored by readers
    with open(out / "metrics.jsonl", "ab") as f:
        f.write(b"\x00\x13garbage\n")
    assert len(RunDir(out).records) == 8
    # inside them: one line naming the file and the line
    lines = (out / "metrics.jsonl").read_bytes().split(b"\n")
    lines[2] = b'{"env_steps": 256, "se'
    (out / "metrics.jsonl").write_bytes(b"\n".join(lines))
    assert main(["train", "--resume", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metrics.jsonl' line 3 is not a JSON record" in err


def _hand_run(path, records, **config):
    path.mkdir(parents=True)
    save_config(TrainConfig(**config), path / "config.yaml")
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def rec(steps, seed, n, u, split="test"):
    return {"env_steps": steps, "seed": seed, "split": split, "neutrality": n, "usefulness": u}


def test_duplicate_records_and_runs_given_twice(tmp_path):
    recs = [rec(1000, 0, 0.7, 0.5), rec(1000, 1, 0.8, 0.6)]
    run = RunDir(_hand_run(tmp_path / "a", recs + recs))  # an evaluation logged twice (old resume bug)
    s = run.summary("test")
    assert s["seeds"] == 2 and s["neutrality"] == pytest.approx((0.75, np.sqrt(0.005)))
    bad = RunDir(_hand_run(tmp_path / "b", recs + [rec(1000, 1, 0.9, 0.6)]))
    with pytest.raises(DrestError, match="two different records for seed 1, 1,000 env steps, split 'test'"):
        bad.records
    with pytest.raises(DrestError, match="is given twice"):
        collect([tmp_path / "a", tmp_path / "a"])
    with pytest.raises(DrestError, match="is given twice"):
        collect([tmp_path / "a", tmp_path / "a" / ".." / "a"])


def test_bank_of_another_grid_size_is_one_line(tmp_path, reference, capsys):
    from drest.worlds import World, save_worlds

    w = World.from_text("shutdown_time: 4\nA c1 b2\n. . .\n")
    save_worlds([w], tmp_path / "wide.json")
    assert main(["eval", str(reference), "--bank", str(tmp_path / "wide.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds 2x3 worlds, but drest.rl runs play 5x5 worlds" in err
    assert main(["train", "--out", str(tmp_path / "r"), "--no-progress", "--set", f"test_bank={tmp_path / 'wide.json'}",
                 "--steps", "1k"]) == 2
    assert "test_bank:" in capsys.readouterr().err and not (tmp_path / "r" / "config.yaml").exists()


def test_out_naming_a_file_or_read_only_place(tmp_path, capsys, small_disk):
    (tmp_path / "f").write_text("")
    assert main(["train", "--out", str(tmp_path / "f"), "--no-progress"]) == 2
    assert "--out: " in capsys.readouterr().err
    ro = small_disk(1 << 20, readonly=True)
    assert main(["train", "--out", str(ro / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out: cannot write into" in err and "Read-only file system" in err


@pytest.mark.slow
@pytest.mark.parametrize("copies", [0.5, 1.5, 2.5])
def test_disk_full_leaves_a_resumable_run_or_a_clear_error(tmp_path, reference, capsys, small_disk, copies):
    """The whole CLI on a disk that fills up: room for ``copies`` checkpoints (beside the config
    and log), so it fills at the first, second or third checkpoint write."""
    size = int((reference / CHECKPOINT).stat().st_size * copies) + 12 * 1024
    disk = small_disk(size)
    out = disk / "run"
    code = main(["train", "--out", str(out), "--no-progress", *ARGV])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err, err
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # no stray temporary files
    meta = RunDir(out).meta
    assert meta is None or not meta["done"]  # never a half state presented as complete
    subprocess.run(["mount", "-o", f"remount,size={4 << 20}", str(disk)], check=True)  # space freed
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert _numbers(out) == _numbers(reference)
    _same_checkpoint(out, reference)
