"""TrainConfig: strict typed parsing of every field, presets at construction, help, damaged config files."""

from __future__ import annotations

import pytest

from drest.cli import main
from drest.errors import DrestError
from drest.rl import TrainConfig, load_config
from drest.rl.config import FIELDS, from_dict, hidden_str, parse_set, save_config
from drest.rl.rundir import read_run_config


@pytest.mark.parametrize("item, needle", [
    ("lr=0x64", "lr: expected a number"),            # YAML 1.1 read this as 100
    ("num_envs=0x64", "num_envs: expected an integer, got '0x64'"),
    ("seed=0o17", "seed: expected an integer, got '0o17'"),  # octal
    ("num_envs=1:30", "num_envs: expected an integer, got '1:30'"),  # base 60: 90
    ("anneal_lr=yes", "anneal_lr: expected true or false, got 'yes'"),
    ("num_seeds=true", "num_seeds: expected an integer, got 'true'"),
    ("num_envs=2.0", "num_envs: expected an integer"),
    ("actor_hidden=wide", "actor_hidden: expected layer widths like 3x128"),
    ("critic_hidden=[64, x]", "critic_hidden: expected layer widths"),
    ("lr=nan", "lr: expected a number"),
    ("gamma=1e999", "gamma: must be finite"),
    ("total_steps=0x10", "total_steps: expected a count like 100M"),
    ("algo=no", "algo: unknown algorithm 'no'"),
    ("meta_episode_size=1.5", "meta_episode_size: expected an integer"),
])
def test_set_values_are_parsed_strictly(tmp_path, capsys, item, needle):
    assert main(["train", "--out", str(tmp_path / "r"), "--no-progress", "--set", item]) == 2
    err = capsys.readouterr().err
    assert err.startswith("drest: error: ") and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("text, needle", [
    ("eval_banks: 5\n", "eval_banks: use 'train' and/or 'test', got ['5']"),
    ("seed: 0o17\n", "seed: expected an integer, got '0o17'"),
    ("total_steps: 1:30\n", "total_steps: expected a count"),
    ("norm_adv: yes\n", "norm_adv: expected true or false, got 'yes'"),
    ("actor_hidden: {a: 1}\n", "actor_hidden: expected layer widths"),
    ("lr: [1, 2]\n", "lr: expected a number"),
    ("", "is empty"),
    ("- a\n- b\n", "must hold a mapping"),
    ("lr: [\n", "cannot parse"),
])
def test_config_file_values_are_parsed_strictly(tmp_path, capsys, text, needle):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    assert main(["train", "--out", str(tmp_path / "r"), "--no-progress", "--config", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err


def test_typed_values_from_python_and_toml(tmp_path):
    with pytest.raises(DrestError, match="num_envs: expected an integer, got True"):
        TrainConfig(num_envs=True)
    with pytest.raises(DrestError, match="eval_banks: expected a list"):
        TrainConfig(eval_banks=5)
    with pytest.raises(DrestError, match="lr: expected a number"):
        TrainConfig(lr=False)
    f = tmp_path / "c.toml"
    f.write_text('algo = "a2c"\nlr = 3e-4\nactor_hidden = [32, 32]\nanneal_lr = true\n')
    c = load_config(f)
    assert (c.lr, c.actor_hidden, c.anneal_lr, c.num_steps, c.optimizer) == (3e-4, (32, 32), True, 192, "rmsprop")
    f.write_text("num_envs = 1.0\n")
    with pytest.raises(DrestError, match="num_envs: expected an integer, got 1.0"):
        load_config(f)


def test_good_strings_parse():
    c = from_dict(parse_set(["lr=3e-4", "num_envs=+32", "actor_hidden=3x128", "critic_hidden=[16, 8]",
                             "eval_banks=test", "anneal_lr=False", "meta_episode_size=null", "total_steps=2.5M",
                             "num_minibatches=2"]))
    assert (c.lr, c.num_envs, c.actor_hidden, c.critic_hidden, c.eval_banks, c.anneal_lr, c.meta_episode_size,
            c.total_steps) == (3e-4, 32, (128, 128, 128), (16, 8), ("test",), False, 32, 2_500_000)


@pytest.mark.parametrize("text, widths", [("3x256", (256, 256, 256)), ("64,128", (64, 128)), ("1x32", (32,))])
def test_hidden_str_is_what_set_reads_back(text, widths):
    assert from_dict({"actor_hidden": text}).actor_hidden == widths and hidden_str(widths) == text


def test_presets_apply_however_the_config_is_built(tmp_path):
    f = tmp_path / "a2c.yaml"
    f.write_text("algo: a2c\n")
    built = [TrainConfig(algo="a2c"), from_dict({"algo": "a2c"}), load_config(f), load_config(overrides={"algo": "a2c"})]
    assert all(c == built[0] for c in built)
    a2c = built[0]  # the paper's (SB3's) A2C regime
    assert (a2c.num_steps, a2c.lr, a2c.optimizer, a2c.anneal_lr, a2c.gae_lambda, a2c.ent_coef, a2c.norm_adv) == (
        192, 7e-4, "rmsprop", False, 1.0, 0.0, False)
    assert a2c.steps_per_update == 24576
    ppo = TrainConfig()
    assert (ppo.num_steps, ppo.lr, ppo.optimizer, ppo.anneal_lr, ppo.gae_lambda, ppo.ent_coef, ppo.norm_adv) == (
        64, 1e-3, "adam", True, 0.95, 0.01, True)
    # an explicit value beats the preset
    assert TrainConfig(algo="a2c", num_steps=32, lr="1e-3").num_steps == 32


def test_saved_config_reads_back_equal(tmp_path):
    c = TrainConfig(algo="a2c", reward="default", actor_hidden="3x32", eval_banks=["test"], train_bank="yes")
    save_config(c, tmp_path / "config.yaml")
    assert read_run_config(tmp_path) == c


@pytest.mark.parametrize("content", [b"", b"algo: [\n", b"\x00\xff\xfe binary", b"algo: ppo\nlr: 0x64\n"])
def test_resume_refuses_a_damaged_config(tmp_path, capsys, content):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.yaml").write_bytes(content)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config.yaml" in err and "start the run again" in err, err
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]


def test_train_help_lists_every_field(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for name, f in FIELDS.items():
        assert f"\n  {name}" in out and f.metadata["help"] in out
    assert "  clip_eps [0.2]\n" in out and "  anneal_lr\n" in out and "  lr\n      learning rate (default: 0.001 ppo, 0.0007 a2c)" in out
    assert "  norm_adv\n      normalise advantages per minibatch (default: true ppo, false a2c)" in out


def test_shipped_configs_load():
    from pathlib import Path

    from drest.rl.config import read_config_file

    files = sorted((Path(__file__).resolve().parents[2] / "configs" / "rl").glob("*.yaml"))
    assert files
    for f in files:
        cfg = from_dict({"algo": "a2c", **read_config_file(str(f))})
        assert cfg.num_envs * cfg.num_steps == 24576 and cfg.norm_adv is False
