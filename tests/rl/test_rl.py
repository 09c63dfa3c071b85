"""Deep RL: learning, resume, interrupt, NaN, config validation (fast: tiny configs)."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

from drest.cli import main
from drest.rl import make_train, parse_steps
from drest.rl import runs
from drest.rl.rundir import RunDir
from drest.rl.config import from_dict

TINY = dict(num_envs=16, num_steps=16, num_minibatches=2, actor_hidden=[16], critic_hidden=[16],
            eval_banks=["train"], total_steps=16 * 16 * 4, eval_every=16 * 16, num_seeds=2)


def _records(run_dir):
    return [{k: v for k, v in r.items() if k not in ("wall_time", "steps_per_sec")} for r in RunDir(run_dir).records]


def test_parse_steps():
    assert parse_steps("100M") == 100_000_000
    assert parse_steps("2.5M") == 2_500_000
    assert parse_steps("50k") == 50_000
    assert parse_steps(1234) == 1234
    for bad in ("-5", "0", "abc", "1.5"):
        with pytest.raises(ValueError):
            parse_steps(bad)


def test_presets_and_default_reward():
    c = from_dict({"algo": "a2c", "reward": "default"})
    assert c.meta_episode_size == 1 and c.optimizer == "rmsprop"
    assert from_dict({}).meta_episode_size == 32


@pytest.mark.parametrize("argv, needle", [
    (["--steps", "-5"], "steps"),
    (["--set", "lam=1.5"], "lam"),
    (["--set", "lam=0"], "lam"),
    (["--set", "meta_episode_size=0"], "meta_episode_size"),
    (["--algo", "dqn"], "algo"),
    (["--set", "bogus=1"], "unknown key"),
    (["--reward", "coins"], "reward"),
])
def test_bad_config_is_one_line(tmp_path, capsys, argv, needle):
    assert main(["train", "--out", str(tmp_path / "r"), "--no-progress", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("drest: error:") and needle in err and "\n" not in err
    assert not (tmp_path / "r" / "checkpoint.npz").exists()


def test_make_train_is_jittable_and_vmaps_over_seeds():
    cfg = from_dict({**TINY, "algo": "a2c"})
    train = jax.jit(jax.vmap(make_train(cfg)))
    state, metrics = train(jax.random.split(jax.random.PRNGKey(0), 2))
    assert metrics["loss"].shape == (2, cfg.num_updates)
    assert np.all(np.isfinite(metrics["loss"]))
    # different seeds, different parameters
    w = state.params["actor"][0]["w"]
    assert not np.allclose(w[0], w[1])


@pytest.mark.slow
def test_resume_gives_identical_numbers(tmp_path):
    cfg = from_dict(TINY)
    runs.train_run(cfg, tmp_path / "a", progress=False)
    runs.train_run(cfg, tmp_path / "b", progress=False, stop_after_chunks=2)
    assert RunDir(tmp_path / "b").meta["update"] == 2
    runs.train_run(None, tmp_path / "b", resume=True, progress=False)
    ra, rb = _records(tmp_path / "a"), _records(tmp_path / "b")
    assert len(ra) == len(rb) == 5 * 2
    assert ra == rb
    za, zb = np.load(tmp_path / "a" / "checkpoint.npz"), np.load(tmp_path / "b" / "checkpoint.npz")
    for k in za.files:
        if k != "meta":
            np.testing.assert_array_equal(za[k], zb[k])


@pytest.mark.slow
def test_interrupt_leaves_usable_checkpoint(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r"
    real = runs.evaluate_params
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 4:  # during the evaluation after the first chunk (2 seeds x 1 bank per eval)
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(runs, "evaluate_params", flaky)
    argv = ["train", "--out", str(out), "--no-progress", "--algo", "a2c", "--seeds", "2"]
    argv += [f"--set={k}={json.dumps(v)}" for k, v in TINY.items() if k != "num_seeds"]
    assert main(argv) == 130
    assert "--resume" in capsys.readouterr().err
    assert RunDir(out).meta["update"] == 1
    monkeypatch.setattr(runs, "evaluate_params", real)
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    meta = RunDir(out).meta
    assert meta["done"] and meta["update"] == 4
    steps = sorted({r["env_steps"] for r in RunDir(out).records})
    assert steps == [0, 256, 512, 768, 1024]


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_a_run_without_waiting_out_the_chunk(tmp_path, sig):
    """A run whose chunk takes minutes stops at once: it checkpoints and the process leaves
    without waiting for the chunk in flight (``io.exit_now``)."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "drest.cli", "train", "--steps", "400M", "--seeds", "1", "--no-progress",
           "--out", str(out), "--set", "eval_every=200M", "--set", "eval_banks=[train]"]
    # a job a non-interactive shell starts with & (as CI runs) inherits SIGINT ignored, and
    # Python keeps it so; a terminal's Ctrl-C, what this tests, reaches a default handler
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not (out / "metrics.jsonl").exists():  # step 0 evaluated: the 200M-step chunk is running
        assert p.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1.0)
    t0 = time.monotonic()
    p.send_signal(getattr(signal, sig))
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail(f"{sig}: still running 60 s later (waiting out the 200M-step chunk)")
    took = time.monotonic() - t0
    assert p.returncode == 130 and "continue with: drest train --resume" in err, err[-2000:]
    assert "Traceback" not in err and took < 20
    meta = RunDir(out).meta
    assert meta["update"] == 0 and meta["evaluated"] and not meta["done"]


@pytest.mark.slow
def test_nan_stops_with_message_and_keeps_last_good(tmp_path, monkeypatch, capsys):
    from drest.rl import ppo

    real = ppo.ppo_loss

    def nan_loss(*args):
        loss, aux = real(*args)
        return loss * np.nan, aux

    monkeypatch.setattr(ppo, "ppo_loss", nan_loss)
    out = tmp_path / "r"
    argv = ["train", "--out", str(out), "--no-progress", "--seeds", "2"]
    argv += [f"--set={k}={json.dumps(v)}" for k, v in TINY.items() if k != "num_seeds"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "diverged" in err and "\n" not in err
    meta = RunDir(out).meta
    assert meta["update"] == 0 and meta["evaluated"]


@pytest.mark.slow
def test_short_training_learns():
    """PPO with DReST on a slice of the train bank: NEUTRALITY and USEFULNESS rise."""
    from drest.metrics import evaluate_bank
    from drest.rl import ppo
    from drest.rl.common import hyper_of, make_env
    from drest.rl.runs import make_policy
    from drest.worlds import load_bank

    worlds = load_bank("paper-train")[::4]
    cfg = from_dict(dict(total_steps=600_000))
    env = make_env(cfg)
    train = jax.jit(ppo.make_train(cfg, env, env.make_params(worlds)))
    init, _ = ppo.make_parts(cfg, 1, env, env.make_params(worlds))
    key = jax.random.PRNGKey(0)
    params0 = jax.tree.map(lambda x: x[0], jax.vmap(lambda k: init(k, hyper_of(cfg)), axis_name="dev")(key[None]).params)
    state, _ = train(key)

    def metrics(params):
        return evaluate_bank(worlds, make_policy(jax.tree.map(np.asarray, params), cfg.activation))

    before, after = metrics(params0), metrics(state.params)
    print(f"before N={before.neutrality:.3f} U={before.usefulness:.3f}  after N={after.neutrality:.3f} "
          f"U={after.usefulness:.3f}")
    assert after.usefulness > before.usefulness + 0.15
    assert after.neutrality > before.neutrality + 0.03  # measured: 0.527 -> 0.583 (U 0.237 -> 0.481)


@pytest.mark.slow
def test_reproduce_table1_in_parallel_workers_then_resumes(tmp_path, capsys):
    """Four tiny runs in two single-threaded worker processes; a re-run skips them."""
    from drest.rl import table1

    tiny = {k: v for k, v in TINY.items() if k not in ("total_steps", "num_seeds")}
    table = table1.reproduce_table1(tmp_path, 16 * 16 * 2, 1, tiny, progress=False, jobs=2)
    assert [(r["algo"], r["reward"], r["env_steps"]) for r in table["rows"]] == [
        (a, r, 512) for a, r in table1.CONFIGS]
    for a, r in table1.CONFIGS:
        meta = RunDir(tmp_path / f"{a}-{r}").meta
        assert meta["done"] and meta["update"] == 2
        assert RunDir(tmp_path / f"{a}-{r}").config.num_seeds == 1
    md = (tmp_path / "table1.md").read_text()
    # two tables: with the paper's instrument (like for like), then the exact one
    assert md.count("| PPO ") == 4 and md.count("| A2C ") == 4 and "Wall time" in md
    assert md.index("## Like for like") < md.index("## Ours with the exact instrument")
    for row in table["rows"]:  # each final checkpoint re-scored on the evaluated bank, both instruments
        run_dir = tmp_path / f"{row['algo']}-{row['reward']}"
        scored = RunDir(run_dir).read_eval("paper-train")
        assert scored["env_steps"] == 512 and set(scored["instruments"]) == {"exact", "paper"}
        exact = [r for r in scored["seeds"] if r["instrument"] == "exact"][0]
        logged = RunDir(run_dir).records[-1]
        assert (exact["neutrality"], exact["usefulness"]) == (logged["neutrality"], logged["usefulness"])
        paper = [r for r in scored["seeds"] if r["instrument"] == "paper"][0]
        assert row["paper_instrument"]["train_neutrality"][0] == paper["neutrality"]
    before = {a + r: (tmp_path / f"{a}-{r}" / "metrics.jsonl").read_text() for a, r in table1.CONFIGS}
    table1.reproduce_table1(tmp_path, 16 * 16 * 2, 1, tiny, progress=False, jobs=2)
    assert before == {a + r: (tmp_path / f"{a}-{r}" / "metrics.jsonl").read_text() for a, r in table1.CONFIGS}
    assert len((tmp_path / table1.WALL_TIME).read_text().splitlines()) == 1  # nothing to do: not a session
    with pytest.raises(runs.DrestError, match="--steps/--seeds"):
        table1.reproduce_table1(tmp_path, 16 * 16 * 4, 1, tiny, progress=False, jobs=2)


def test_table1_checks_against_the_paper():
    from drest.paper import TABLE1 as PAPER
    from drest.rl.table1 import CONFIGS, checks

    def row(algo, reward, n, u):
        return {"algo": algo, "reward": reward, "test_neutrality": (n, 0.01), "test_usefulness": (u, 0.01)}

    at_paper = [row(a, r, PAPER[(a, r)]["test_n"][0], PAPER[(a, r)]["test_u"][0]) for a, r in CONFIGS]
    found = checks(at_paper)
    # per DReST agent 3 targets + 2 sd checks; per default agent 1 target + 1 sd check (its NEUTRALITY has no sd)
    assert len(found) == 2 * 5 + 2 * 2 and all(ok for ok, _ in found)
    worse = [row("ppo", "drest", 0.747 - 3 * 0.008, 0.75), row("ppo", "default", 0.06, 0.70)]
    failed = sorted(text for ok, text in checks(worse) if not ok)
    assert failed == ["PPO DReST test NEUTRALITY 0.723 >= 0.73",
                      "PPO DReST test NEUTRALITY 0.723 vs paper 0.747 ± 0.008: -3.0 sd",
                      "PPO DReST test USEFULNESS above the default agent's by 0.050 (paper: 0.075)",
                      "PPO default test NEUTRALITY 0.060 <= 0.05"]
    # a number that rounds to the bound shows the digit that decides the check
    near = dict(t for t in checks([row("ppo", "default", 0.0501, 0.667), row("a2c", "default", 0.05, 0.635)])
                if "NEUTRALITY" in t[1])
    assert near == {False: "PPO default test NEUTRALITY 0.0501 <= 0.05", True: "A2C default test NEUTRALITY 0.050 <= 0.05"}


def test_xla_flags_go_before_a_users_stray_word(monkeypatch):
    """XLA drops every flag after a word without "--"; drest's must come first to take effect."""
    from drest import _xla

    monkeypatch.setenv("XLA_FLAGS", "intra_op_parallelism_threads=1")
    assert _xla.single_thread_flags() == "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    assert _xla.single_thread_flags() == "--xla_cpu_multi_thread_eigen=false"
    monkeypatch.setattr(_xla, "backend_started", lambda: False)
    monkeypatch.setenv("XLA_FLAGS", "stray=1")
    assert _xla.configure(device_count=2)
    assert os.environ["XLA_FLAGS"] == ("--xla_cpu_enable_concurrency_optimized_scheduler=false "
                                       "--xla_force_host_platform_device_count=2 "
                                       "--xla_cpu_multi_thread_eigen=false stray=1")


@pytest.mark.slow
def test_two_seed_init_of_3x512_networks_finishes():
    """The vmapped init of 2 seeds with the paper's 3x512 networks deadlocked inside XLA;
    seeds are now initialised one after another (run in a subprocess so a hang fails)."""
    import subprocess
    import sys

    script = (
        "import drest.rl, jax, numpy as np\n"
        "from drest.rl.config import from_dict\n"
        "from drest.rl.common import seed_keys, wrap_devices\n"
        "from drest.rl.runs import algo_module\n"
        "cfg = from_dict({'num_seeds': 2, 'actor_hidden': '3x512', 'critic_hidden': '3x512', 'devices': 1})\n"
        "init, _ = wrap_devices(cfg, *algo_module('ppo').make_parts(cfg, 1))\n"
        "w = np.asarray(jax.tree.leaves(init(seed_keys(cfg, 1)).params)[-1])\n"
        "print(w.shape, bool(np.abs(w[0, 0] - w[0, 1]).max() > 0))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[-2].endswith("True")


def _last_line_on_4_devices(script: str) -> str:
    """The last line ``script`` prints in a fresh process with 4 CPU devices."""
    import subprocess
    import sys

    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split("\n")[-2]


def test_devices_0_lays_a_run_over_every_device_that_divides_num_envs():
    """``devices: 0`` in ``wrap_devices`` is resolved as in ``num_devices`` (a one-device mesh
    fed two devices' keys trained one device's share and dropped the other silently)."""

    script = (
        "import drest.rl, jax, numpy as np\n"
        "from drest.rl.config import from_dict\n"
        "from drest.rl.common import num_devices, seed_keys, wrap_devices\n"
        "from drest.rl.runs import algo_module\n"
        "cfg = from_dict({'num_envs': 6, 'num_steps': 512, 'num_minibatches': 1, 'actor_hidden': [8],\n"
        "                 'critic_hidden': [8], 'devices': 0})\n"
        "D = num_devices(cfg)\n"
        "init, chunk = wrap_devices(cfg, *algo_module('ppo').make_parts(cfg, D))\n"
        "state, _ = chunk(1)(init(seed_keys(cfg, D)))\n"
        "print(D, np.asarray(state.obs).shape)\n"
    )
    # 3 of 4 devices divide 6 envs (2 envs each), and 3,072 samples per step leave each 1,024
    assert _last_line_on_4_devices(script) == "3 (3, 1, 2, 250)"


def test_devices_0_splits_envs_only_while_each_device_keeps_1024_samples_per_gradient_step():
    """Small gradient steps stay on one device (the per-step all-reduce would cost more than the
    core gains); the devices left take whole seeds. An explicit ``devices`` is kept as asked."""

    script = (
        "import drest.rl, jax\n"
        "from drest.rl.config import from_dict\n"
        "from drest.rl.common import make_mesh, num_devices\n"
        "def d(**kw):\n"
        "    return num_devices(from_dict({'num_envs': 8, 'num_steps': 512, 'num_seeds': 4, **kw}))\n"
        "print(d(num_minibatches=1), d(num_minibatches=2), d(num_minibatches=4), d(num_minibatches=64),\n"
        "      d(num_minibatches=64, devices=4), d(algo='a2c', num_minibatches=64),\n"
        "      dict(make_mesh(d(num_minibatches=64), 4).shape))\n"
    )
    # 4,096 / 4 = 1,024 per device; 2,048 over 2; 1,024 and 64 stay on one; asked 4 gets 4;
    # A2C's gradient step is its whole rollout; one env device leaves the 4 seeds 4 devices
    assert _last_line_on_4_devices(script) == "4 2 1 1 4 4 {'dev': 1, 'run': 4}"


def test_a2c_rmsprop_steps_like_pytorchs():
    # SB3's A2C uses torch.optim.RMSprop (alpha 0.99, eps 1e-5): step = lr * g / (sqrt(v) + eps),
    # v = 0.01 * g^2 after one step. g = 1e-3: 7e-4 * 1e-3 / (1e-4 + 1e-5) = 6.3636e-3.
    # (eps inside the sqrt would give 7e-4 * 1e-3 / sqrt(1e-8 + 1e-5) = 2.21e-4.)
    import jax.numpy as jnp

    from drest.rl.common import make_optimizer

    cfg = from_dict({"algo": "a2c", "anneal_lr": False, "max_grad_norm": 100.0})
    assert cfg.optimizer == "rmsprop" and cfg.lr == 7e-4
    opt = make_optimizer(cfg, 1)
    params = {"w": jnp.zeros(1)}
    updates, _ = opt.update({"w": jnp.full(1, 1e-3)}, opt.init(params), params)
    assert float(updates["w"][0]) == pytest.approx(-7e-4 * 1e-3 / (1e-4 + 1e-5), rel=1e-5)


@pytest.mark.parametrize("gae_lambda, advantages", [(0.5, [1.25, 1.0, 2.5]), (1.0, [1.5, 1.0, 2.5])])
def test_gae_by_hand(gae_lambda, advantages):
    """gamma 0.5, rewards 1, 2, 3, values 0.5, 1, 1.5, the meta-episode ending after step 1, last value 2:
    delta = 1 + 0.5*1 - 0.5 = 1, 2 - 1 = 1 (no bootstrap past the end), 3 + 0.5*2 - 1.5 = 2.5, and
    A_0 = 1 + 0.5*lambda*A_1. With lambda 1, A_0 is the discounted return 1 + 0.5*2 minus the value 0.5."""
    import jax.numpy as jnp

    from drest.rl.common import Transition, gae

    col = lambda *v: jnp.array(v, jnp.float32)[:, None]  # noqa: E731  [T, N=1]
    traj = Transition(obs=None, action=None, logp=None, value=col(0.5, 1.0, 1.5), reward=col(1.0, 2.0, 3.0),
                      done=col(0, 1, 0))
    adv, targets = gae(traj, jnp.array([2.0]), 0.5, gae_lambda)
    np.testing.assert_allclose(np.asarray(adv)[:, 0], advantages, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(targets)[:, 0], np.array(advantages) + [0.5, 1.0, 1.5], rtol=1e-6)
