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


_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _list(value: str) -> list:
    """``"[a, 'b']"`` / ``"a,b"`` -> ["a", "b"] (a flow list read with every item a string)."""
    s = value.strip()
    if s.startswith("["):
        try:
            return _yaml_strings(s)
        except yaml.YAMLError:
            return [s]
    return [v.strip() for v in s.split(",") if v.strip()]


def hidden_str(widths: tuple[int, ...]) -> str:
    """(256, 256, 256) -> "3x256", (64, 128) -> "64,128": the form ``--set actor_hidden=`` takes."""
    return f"{len(widths)}x{widths[0]}" if len(set(widths)) == 1 else ",".join(map(str, widths))


def _hidden(key: str, value) -> tuple[int, ...]:
    """``[128, 128]``, ``"3x128"``, ``"128,128"``, ``128`` -> (128, 128) / (128,)."""
    bad = DrestError(f"{key}: expected layer widths like 3x128 or [64, 64], got {value!r}")
    if isinstance(value, str):
        m = re.fullmatch(r"(\d+)\s*x\s*(\d+)", value.strip().lower())
        value = [m.group(2)] * int(m.group(1)) if m else _list(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise bad
    try:
        out = tuple(_int(key, v) for v in value)
    except DrestError:
        raise bad from None
    if not out or any(v < 1 for v in out):
        raise bad
    return out


def _int(key: str, value) -> int:
    """An integer: a Python int or its decimal digits (no floats, booleans, hex, octal or YAML 1.1 forms)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value)
    raise DrestError(f"{key}: expected an integer, got {value!r}")


def _float(key: str, value) -> float:
    """A finite number: a Python int/float or a decimal literal such as 3e-4 or 0.5."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        f = float(value)
    elif isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        f = float(value)
    else:
        raise DrestError(f"{key}: expected a number such as 3e-4 or 0.5, got {value!r}")
    if not math.isfinite(f):
        raise DrestError(f"{key}: must be finite, got {value!r}")
    return f


def _bool(key: str, value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise DrestError(f"{key}: expected true or false, got {value!r}")


def _str(key: str, value) -> str:
    if not isinstance(value, str):
        raise DrestError(f"{key}: expected a name, got {value!r}")
    return value


def _banks(key: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = _list(value)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise DrestError(f"{key}: expected a list such as [train, test] or train,test, got {value!r}")
    return tuple(value)


def _optional_int(key: str, value) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "null", "none", "~")):
        return None
    return _int(key, value)


def _steps(key: str, value) -> int:
    try:
        return parse_steps(value)
    except DrestError as exc:
        raise DrestError(f"{key}: {str(exc).split(': ', 1)[1]}") from None


def _f(default, help: str, parse=None):
    """A config field with its help text (shown by ``drest train --help``) and its strict parser."""
    return dataclasses.field(default=default, metadata={"help": help, "parse": parse})


# Per-algorithm defaults of the fields declared with ``None`` below, applied when a config is
# built (TrainConfig(algo="a2c"), a file, flags and --set all give the same A2C; docs/rl.md).
# A2C's are the paper's regime: Stable-Baselines3's A2C semantics (GAE lambda 1, no entropy
# bonus, raw advantages, constant lr) and its 24,576 samples per update (128 envs x 192 steps
# here, 3 x 8,192 in the paper): results/table1/README.md, "A2C".
PRESETS: dict[str, dict[str, Any]] = {
    "ppo": {"num_steps": 64, "lr": 1e-3, "optimizer": "adam", "anneal_lr": True, "gae_lambda": 0.95,
            "ent_coef": 0.01, "norm_adv": True},
    "a2c": {"num_steps": 192, "lr": 7e-4, "optimizer": "rmsprop", "anneal_lr": False, "gae_lambda": 1.0,
            "ent_coef": 0.0, "norm_adv": False},
}


@dataclass(frozen=True)
class TrainConfig:
    """One training configuration (all seeds of a run share it).

    Steps are env steps *per seed*, as the paper counts them (100M per run). Every
    field is parsed strictly by its type when the config is built (strings from a
    file or ``--set`` included) and the algorithm's ``PRESETS`` fill the fields left
    at ``None``.
    """

    algo: str = _f("ppo", "ppo or a2c", _str)
    reward: str = _f("drest", "drest, or default (raw coins, lam 1, M 1: the paper's default agent)", _str)
    lam: float = _f(0.9, "DReST discount lambda, strictly between 0 and 1", _float)
    meta_episode_size: int | None = _f(None, "M, mini-episodes per meta-episode (default: 32 for drest, 1 for default)",
                                       _optional_int)
    total_steps: int = _f(5_000_000, "env steps per seed, e.g. 100M, 2.5M, 50k", _steps)
    num_seeds: int = _f(1, "seeds trained together in one program", _int)
    seed: int = _f(0, "seed i of a run uses seed + i", _int)
    train_bank: str = _f("paper-train", "bank trained on (a bank name or a world file)", _str)
    test_bank: str = _f("paper-test", "held-out bank evaluated as 'test'", _str)
    eval_every: int = _f(1_000_000, "env steps between exact evaluations and checkpoints", _steps)
    eval_banks: tuple[str, ...] = _f(("train", "test"), "banks evaluated: train and/or test", _banks)
    # network: separate actor and critic MLPs
    actor_hidden: tuple[int, ...] = _f((64, 64), "actor MLP layer widths, e.g. 3x128 or [64, 64]", _hidden)
    critic_hidden: tuple[int, ...] = _f((64, 64), "critic MLP layer widths", _hidden)
    activation: str = _f("tanh", "tanh or relu", _str)
    # rollout (per seed; envs are split over devices)
    num_envs: int = _f(128, "parallel environments per seed", _int)
    num_steps: int | None = _f(None, "rollout length per update", _optional_int)
    devices: int = _f(0, "JAX devices a run's envs are split over (0: all that divide num_envs, on CPU "
                         "while each keeps 1,024 samples per gradient step; drest train makes one CPU "
                         "device per core, and devices left over take whole seeds)", _int)
    # optimisation
    lr: float | None = _f(None, "learning rate", _float)
    anneal_lr: bool | None = _f(None, "anneal the learning rate linearly to 0 over the run", _bool)
    optimizer: str | None = _f(None, "adam or rmsprop", _str)
    gamma: float = _f(0.99, "discount of the advantage estimate", _float)
    gae_lambda: float | None = _f(None, "GAE lambda", _float)
    update_epochs: int = _f(1, "PPO epochs per rollout", _int)
    num_minibatches: int = _f(4, "PPO minibatches per epoch (must divide num_envs * num_steps)", _int)
    clip_eps: float = _f(0.2, "PPO clip range", _float)
    ent_coef: float | None = _f(None, "entropy bonus coefficient", _float)
    vf_coef: float = _f(0.5, "value loss coefficient", _float)
    max_grad_norm: float = _f(0.5, "global gradient-norm clip", _float)
    norm_adv: bool | None = _f(None, "normalise advantages per minibatch", _bool)

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None or f.default is not None:
                set_(f.name, f.metadata["parse"](f.name, v))
        if self.algo not in ("ppo", "a2c"):
            raise DrestError(f"algo: unknown algorithm {self.algo!r}; use 'ppo' or 'a2c'")
        for k, v in PRESETS[self.algo].items():
            if getattr(self, k) is None:
                set_(k, v)
        if self.reward not in ("drest", "default"):
            raise DrestError(f"reward: unknown reward {self.reward!r}; use 'drest' or 'default'")
        if not 0.0 < self.lam < 1.0:
            raise DrestError(f"lam: the DReST discount must be strictly between 0 and 1, got {self.lam!r}")
        if self.meta_episode_size is None:
            set_("meta_episode_size", 32 if self.reward == "drest" else 1)
        if self.meta_episode_size < 1:
            raise DrestError(f"meta_episode_size: must be an integer >= 1, got {self.meta_episode_size!r}")
        if any(b not in ("train", "test") for b in self.eval_banks):
            raise DrestError(f"eval_banks: use 'train' and/or 'test', got {list(self.eval_banks)}")
        if self.activation not in ("tanh", "relu"):
            raise DrestError(f"activation: use 'tanh' or 'relu', got {self.activation!r}")
        if self.optimizer not in ("adam", "rmsprop"):
            raise DrestError(f"optimizer: use 'adam' or 'rmsprop', got {self.optimizer!r}")
        for name in ("num_seeds", "num_envs", "num_steps", "update_epochs", "num_minibatches"):
            if getattr(self, name) < 1:
                raise DrestError(f"{name}: must be an integer >= 1, got {getattr(self, name)!r}")
        if self.devices < 0:
            raise DrestError(f"devices: must be an integer >= 0 (0 = all), got {self.devices!r}")
        if self.seed < 0:
            raise DrestError(f"seed: must be an integer >= 0, got {self.seed!r}")
        for name in ("lr", "gamma", "gae_lambda", "clip_eps", "ent_coef", "vf_coef", "max_grad_norm"):
            if getattr(self, name) < 0:
                raise DrestError(f"{name}: must be a finite number >= 0, got {getattr(self, name)!r}")
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
    def gradient_batch(self) -> int:
        """Samples per gradient step: a PPO minibatch, A2C's whole rollout."""
        return self.steps_per_update // (self.num_minibatches if self.algo == "ppo" else 1)

    @property
    def num_updates(self) -> int:
        return max(1, self.total_steps // self.steps_per_update)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def replace(self, **kw) -> "TrainConfig":
        return from_dict({**self.to_dict(), **kw})


FIELDS = {f.name: f for f in fields(TrainConfig)}


def set_form(value) -> str:
    """A config value as ``--set`` takes it: ``3x256`` for a network, ``true`` for True."""
    if isinstance(value, tuple):
        return hidden_str(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def field_help() -> str:
    """Every config key with its default (a preset's per algorithm, from ``PRESETS``) and help
    (``drest train --help``)."""
    lines = []
    for name, f in FIELDS.items():
        default = f.default
        if isinstance(default, tuple):
            default = ",".join(map(str, default))
        shown = "" if default is None else f" [{set_form(default)}]"
        preset = ", ".join(f"{set_form(p[name])} {algo}" for algo, p in PRESETS.items() if name in p)
        lines.append(f"  {name}{shown}\n      {f.metadata['help']}" + (f" (default: {preset})" if preset else ""))
    return "\n".join(lines)


def from_dict(d: dict[str, Any]) -> TrainConfig:
    """A config from keys (values typed or strings, parsed strictly); presets applied."""
    unknown = sorted(set(d) - set(FIELDS))
    if unknown:
        raise DrestError(f"config: unknown key {unknown[0]!r}; known keys: {', '.join(FIELDS)}")
    return TrainConfig(**d)


def parse_set(items: list[str], scopes: tuple[str, ...] = ()) -> dict[str, Any]:
    """``["lr=3e-4", "actor_hidden=3x128"]`` -> dict of strings, parsed by each field's type when
    the config is built (not as YAML: ``0x64``, ``0o17``, ``1:30`` or ``yes`` are refused, not reinterpreted).
    ``scopes`` (e.g. the algorithms): a key may also be ``SCOPE.KEY`` (``a2c.lr=7e-4``), kept as written."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise DrestError(f"--set: expected key=value, got {item!r}")
        k, v = item.split("=", 1)
        k = k.strip()
        scope, dot, name = k.partition(".")
        if (name if dot and scope in scopes else k) not in FIELDS:
            also = f" (or {' / '.join(f'{s}.KEY' for s in scopes)} for one only)" if scopes else ""
            raise DrestError(f"config: unknown key {k!r}; known keys{also}: {', '.join(FIELDS)}")
        out[k] = v
    return out


def scoped(overrides: dict[str, Any], scope: str) -> dict[str, Any]:
    """The overrides for ``scope``: unscoped keys, then ``scope.KEY`` ones (which win)."""
    return ({k: v for k, v in overrides.items() if "." not in k}
            | {k.partition(".")[2]: v for k, v in overrides.items() if k.partition(".")[0] == scope})


def _yaml_strings(text: str):
    """YAML with every scalar kept as a string (YAML 1.1's implicit types -- hex, octal, base 60,
    yes/no -- never apply); each field's parser then reads it strictly."""
    return yaml.load(text, Loader=yaml.BaseLoader)


def read_config_file(path: str | Path, label: str = "--config") -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise DrestError(f"{label}: no such file {str(p)!r}")
    try:
        text = p.read_text(encoding="utf-8")
        if p.suffix == ".toml":
            import tomllib

            d = tomllib.loads(text)
        else:
            d = _yaml_strings(text)
    except Exception as exc:  # noqa: BLE001 - any read/parse error becomes one line
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DrestError(f"{label}: cannot parse {str(p)!r}: {msg}") from None
    if d is None or d == "":
        raise DrestError(f"{label}: {str(p)!r} is empty")
    if not isinstance(d, dict):
        raise DrestError(f"{label}: {str(p)!r} must hold a mapping of key: value")
    return d


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                base: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then ``base``, then the file at ``path``, then ``overrides``; presets applied."""
    d: dict[str, Any] = dict(base or {})
    if path is not None:
        d.update(read_config_file(path))
    d.update(overrides or {})
    return from_dict(d)


def save_config(config: TrainConfig, path: str | Path) -> None:
    write_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
