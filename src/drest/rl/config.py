"""Typed training configuration: defaults that work, YAML/TOML files, ``--set key=value`` overrides.

Every field is validated at construction so a bad setting fails at start with one
line (a ``DrestError``), never hours into a run.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from ..errors import DrestError
from ..io import write_atomic

_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9}


def parse_steps(value) -> int:
    """An env-step count: ``100M``, ``2.5M``, ``50k``, ``1e6``, ``123456`` -> int (> 0)."""
    if isinstance(value, bool):
        raise DrestError(f"steps: expected a count like 100M, 2.5M, 50k, got {value!r}")
    if isinstance(value, (int, float)):
        n = value
    else:
        m = re.fullmatch(r"\s*([+-]?[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kKmMgGbB]?)\s*", str(value))
        if not m:
            raise DrestError(f"steps: expected a count like 100M, 2.5M, 50k, got {value!r}")
        n = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
    if not math.isfinite(n) or n != int(n):
        raise DrestError(f"steps: must be a whole number of env steps, got {value!r}")
    n = int(n)
    if n <= 0:
        raise DrestError(f"steps: must be positive, got {value!r}")
    return n


def _hidden(value) -> tuple[int, ...]:
    """``[128, 128]``, ``"3x128"``, ``"128,128"`` -> (128, 128)."""
    if isinstance(value, str):
        s = value.strip().lower()
        m = re.fullmatch(r"(\d+)\s*x\s*(\d+)", s)
        value = [int(m.group(2))] * int(m.group(1)) if m else [int(v) for v in s.strip("[]()").split(",") if v.strip()]
    if isinstance(value, int):
        value = [value]
    out = tuple(int(v) for v in value)
    if not out or any(v < 1 for v in out):
        raise DrestError(f"hidden: expected layer widths like 3x128 or [64, 64], got {value!r}")
    return out


@dataclass(frozen=True)
class TrainConfig:
    """One training configuration (all seeds of a run share it).

    Steps are env steps *per seed*, as the paper counts them (100M per run).
    """

    algo: str = "ppo"  # ppo | a2c
    reward: str = "drest"  # drest | default (raw coins, lam 1, M 1: the paper's default agent)
    lam: float = 0.9  # DReST discount, strictly in (0, 1)
    meta_episode_size: int | None = None  # M; None: 32 for drest, 1 for default
    total_steps: int = 5_000_000
    num_seeds: int = 1
    seed: int = 0  # seed i of a run uses seed + i
    train_bank: str = "paper-train"
    test_bank: str = "paper-test"
    eval_every: int = 1_000_000  # env steps between exact evaluations and checkpoints
    eval_banks: tuple[str, ...] = ("train", "test")
    # network: separate actor and critic MLPs
    actor_hidden: tuple[int, ...] = (64, 64)
    critic_hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    # rollout (per seed; envs are split over devices)
    num_envs: int = 128
    num_steps: int = 64
    devices: int = 1  # JAX devices the envs are split over (0: all local devices that divide num_envs)
    # optimisation
    lr: float = 1e-3
    anneal_lr: bool = True
    optimizer: str = "adam"  # adam | rmsprop
    gamma: float = 0.99
    gae_lambda: float = 0.95
    update_epochs: int = 1  # PPO only
    num_minibatches: int = 4  # PPO only
    clip_eps: float = 0.2  # PPO only
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    norm_adv: bool = True

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        if self.algo not in ("ppo", "a2c"):
            raise DrestError(f"algo: unknown algorithm {self.algo!r}; use 'ppo' or 'a2c'")
        if self.reward not in ("drest", "default"):
            raise DrestError(f"reward: unknown reward {self.reward!r}; use 'drest' or 'default'")
        try:
            lam = float(self.lam)
        except (TypeError, ValueError):
            raise DrestError(f"lam: expected a number strictly between 0 and 1, got {self.lam!r}") from None
        if not 0.0 < lam < 1.0:
            raise DrestError(f"lam: the DReST discount must be strictly between 0 and 1, got {self.lam!r}")
        set_("lam", lam)
        if self.meta_episode_size is None:
            set_("meta_episode_size", 32 if self.reward == "drest" else 1)
        M = self.meta_episode_size
        if isinstance(M, bool) or not isinstance(M, int) or M < 1:
            raise DrestError(f"meta_episode_size: must be an integer >= 1, got {M!r}")
        set_("total_steps", parse_steps(self.total_steps))
        set_("eval_every", parse_steps(self.eval_every))
        set_("actor_hidden", _hidden(self.actor_hidden))
        set_("critic_hidden", _hidden(self.critic_hidden))
        set_("eval_banks", tuple(self.eval_banks))
        if any(b not in ("train", "test") for b in self.eval_banks):
            raise DrestError(f"eval_banks: use 'train' and/or 'test', got {list(self.eval_banks)}")
        if self.activation not in ("tanh", "relu"):
            raise DrestError(f"activation: use 'tanh' or 'relu', got {self.activation!r}")
        if self.optimizer not in ("adam", "rmsprop"):
            raise DrestError(f"optimizer: use 'adam' or 'rmsprop', got {self.optimizer!r}")
        for name in ("num_seeds", "num_envs", "num_steps", "update_epochs", "num_minibatches"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise DrestError(f"{name}: must be an integer >= 1, got {v!r}")
        if isinstance(self.devices, bool) or not isinstance(self.devices, int) or self.devices < 0:
            raise DrestError(f"devices: must be an integer >= 0 (0 = all), got {self.devices!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise DrestError(f"seed: must be an integer >= 0, got {self.seed!r}")
        for name in ("lr", "gamma", "gae_lambda", "clip_eps", "ent_coef", "vf_coef", "max_grad_norm"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise DrestError(f"{name}: must be a finite number >= 0, got {v!r}")
            set_(name, float(v))
        if self.lr <= 0:
            raise DrestError(f"lr: must be positive, got {self.lr!r}")
        if self.gamma > 1 or self.gae_lambda > 1:
            raise DrestError("gamma, gae_lambda: must be at most 1")
        batch = self.num_envs * self.num_steps
        if self.algo == "ppo" and batch % self.num_minibatches:
            raise DrestError(f"num_minibatches: {self.num_minibatches} does not divide the rollout batch "
                             f"num_envs * num_steps = {batch}")

    # -- derived -----------------------------------------------------------
    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return max(1, self.total_steps // self.steps_per_update)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def replace(self, **kw) -> "TrainConfig":
        return from_dict({**self.to_dict(), **kw})


FIELDS = {f.name: f for f in fields(TrainConfig)}
STEP_FIELDS = ("total_steps", "eval_every")


def from_dict(d: dict[str, Any]) -> TrainConfig:
    unknown = sorted(set(d) - set(FIELDS))
    if unknown:
        raise DrestError(f"config: unknown key {unknown[0]!r}; known keys: {', '.join(FIELDS)}")
    return TrainConfig(**{k: _coerce(k, v) for k, v in d.items()})


def _coerce(key: str, value):
    """Give a value from a file or ``--set`` the field's type (ints stay ints, "1e-3" is a float)."""
    default = FIELDS[key].default
    if key in STEP_FIELDS:
        return parse_steps(value)
    if key in ("actor_hidden", "critic_hidden"):
        return _hidden(value)
    if key == "meta_episode_size":
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        return _as_int(key, value)
    if key == "eval_banks":
        return tuple(value.split(",")) if isinstance(value, str) else tuple(value)
    if isinstance(default, bool):
        if isinstance(value, str):
            if value.lower() in ("true", "1", "yes", "on"):
                return True
            if value.lower() in ("false", "0", "no", "off"):
                return False
            raise DrestError(f"{key}: expected true or false, got {value!r}")
        return bool(value)
    if isinstance(default, int):
        return _as_int(key, value)
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise DrestError(f"{key}: expected a number, got {value!r}") from None
    return value


def _as_int(key, value):
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise DrestError(f"{key}: expected an integer, got {value!r}") from None
    if not math.isfinite(f) or f != int(f):
        raise DrestError(f"{key}: expected an integer, got {value!r}")
    return int(f)


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["lr=3e-4", "actor_hidden=3x128"]`` -> dict (values parsed as YAML scalars/lists)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise DrestError(f"--set: expected key=value, got {item!r}")
        k, v = item.split("=", 1)
        k = k.strip()
        if k not in FIELDS:
            raise DrestError(f"config: unknown key {k!r}; known keys: {', '.join(FIELDS)}")
        try:
            parsed = yaml.safe_load(v)
        except yaml.YAMLError:
            parsed = v
        out[k] = v if parsed is None and v.strip() else parsed
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise DrestError(f"--config: no such file {str(p)!r}")
    text = p.read_text()
    try:
        if p.suffix == ".toml":
            import tomllib

            d = tomllib.loads(text)
        else:
            d = yaml.safe_load(text) or {}
    except Exception as exc:  # noqa: BLE001 - any parse error becomes one line
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DrestError(f"--config: cannot parse {str(p)!r}: {msg}") from None
    if not isinstance(d, dict):
        raise DrestError(f"--config: {str(p)!r} must hold a mapping of key: value")
    return d


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                base: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then ``base``, then the file at ``path``, then ``overrides``."""
    d: dict[str, Any] = dict(base or {})
    if path is not None:
        d.update(read_config_file(path))
    d.update(overrides or {})
    return from_dict(d)


def save_config(config: TrainConfig, path: str | Path) -> None:
    write_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


# Per-algorithm defaults applied under a file / flags / --set (chosen with short runs; docs/rl.md).
PRESETS: dict[str, dict[str, Any]] = {
    "ppo": {},
    "a2c": {"num_steps": 16, "lr": 7e-4, "optimizer": "rmsprop"},
}


def resolve(d: dict[str, Any]) -> TrainConfig:
    """A config from user keys on top of the preset of their algorithm."""
    algo = d.get("algo", "ppo")
    return from_dict({**PRESETS.get(algo, {}), **d})
