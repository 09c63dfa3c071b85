"""Gymnasium adapter: drest's gridworlds as a Gymnasium env, and DReST for any Gymnasium env.

``GridWorldEnv`` plays one mini-episode per Gymnasium episode in a world drawn
from a bank (the same dynamics and observation as :mod:`drest.env`, stepped in
NumPy because a Python loop calling a jitted function per step is slower). Its
reward is the coin value collected at each step; at the last step ``info``
reports ``length``, ``length_index``, ``num_lengths``, ``coins`` and ``m`` (the
most coin value collectable with that length).

``DReSTWrapper`` turns any Gymnasium env whose final ``info`` reports
``length_index`` (and optionally ``num_lengths`` and ``m``) into a DReST
meta-episode env: M mini-episodes per wrapper episode, all started with the same
reset seed so that a world drawn from the seed repeats (observationally
identical mini-episodes); the inner rewards are summed as coins and the whole
mini-episode's DReST reward (:func:`drest.reward.drest_reward`) is paid at its
last step, 0 before, as in the reference implementation.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .errors import DrestError
from .layout import N_ACTIONS, OBS_DTYPE, bank_arrays, channels, obs_size
from .reward import drest_reward
from .worlds import World, load_bank


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


class GridWorldEnv(gym.Env):
    """One mini-episode in a world of a bank (a bank name, a file path or a list of Worlds).

    ``reset(seed=s)`` draws the world from ``s``; ``reset(options={"world": i})``
    picks world ``i``.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, worlds: str | Path | list[World] = "paper-train", render_mode: str | None = None):
        if isinstance(worlds, (str, Path)):
            self.worlds = load_bank(worlds)
        elif isinstance(worlds, (list, tuple)) and all(isinstance(w, World) for w in worlds):
            self.worlds = list(worlds)
        else:
            raise DrestError(f"worlds: give a bank name, a world file path or a list of World, got {worlds!r:.80}")
        self._a = bank_arrays(self.worlds)
        self.shape = self.worlds[0].shape
        self.observation_space = spaces.Box(-128, 127, shape=(obs_size(self.shape),), dtype=OBS_DTYPE)
        self.action_space = spaces.Discrete(N_ACTIONS)
        if render_mode not in (None, "ansi"):
            raise DrestError(f"render_mode: {render_mode!r} is not supported; use 'ansi' or None")
        self.render_mode = render_mode
        self._world = None
        self._ended = False

    def _obs(self):
        a, w = self._a, self._world
        current = channels(a["walls"][w], self._coins, self._delays, self._pos, self._left, self.shape)
        return np.concatenate([a["init_obs"][w], current])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        n = len(self.worlds)
        if options is not None and not isinstance(options, dict):
            raise DrestError(f"options: must be a dict like {{'world': 3}} or None, got {options!r:.60}")
        unknown = sorted(map(str, set(options or {}) - {"world"}))
        if unknown:
            raise DrestError(f"options: unknown key(s) {', '.join(unknown)}; GridWorldEnv takes 'world' (a bank index)")
        w = (options or {}).get("world")
        if w is None:
            w = int(self.np_random.integers(n))
        elif isinstance(w, bool) or not isinstance(w, (int, np.integer)):
            raise DrestError(f"options['world']: must be an integer index into the bank, got {w!r}")
        elif not 0 <= w < n:
            raise DrestError(f"options['world']: index {w} is outside the bank of {n} worlds (0..{n - 1})")
        a = self._a
        self._world = int(w)
        self._pos = int(a["start"][w])
        self._coins = a["coins"][w].copy()
        self._delays = a["delays"][w].copy()
        self._left = int(a["shutdown_time"][w])
        self._t = 0
        self._collected = 0.0
        self._ended = False
        return self._obs(), {"world": self._world}

    def step(self, action):
        if self._world is None:
            raise DrestError("step: call reset() before step()")
        if self._ended:
            # Gymnasium's contract: after terminated=True the env is undefined until reset
            raise DrestError("step: the episode has ended (terminated=True); call reset() before stepping again")
        if isinstance(action, (bool, np.bool_)) or not self.action_space.contains(action):
            raise DrestError(f"action: must be an integer in 0-3 (up, down, left, right), got {action!r}")
        a, w = self._a, self._world
        self._pos = pos = int(a["next_cell"][w, self._pos, int(action)])
        coin = float(self._coins[pos])
        self._left += int(self._delays[pos]) - 1
        self._coins[pos] = 0.0
        self._delays[pos] = 0
        self._t += 1
        self._collected += coin
        terminated = self._ended = self._left <= 0
        info = {}
        if terminated:
            k = int(a["k"][w])
            li = int(np.flatnonzero(a["lengths"][w, :k] == self._t)[0])
            info = {"length": self._t, "length_index": li, "num_lengths": k, "coins": self._collected,
                    "m": float(a["m"][w, li])}
        return self._obs(), coin, terminated, False, info

    def render(self):
        if self.render_mode == "ansi":
            if self._world is None:
                raise DrestError("render: call reset() before render()")
            from .worlds.draw import render_text

            return render_text(self.worlds[self._world])
        return None


class DReSTWrapper(gym.Wrapper):
    """DReST meta-episodes of ``meta_episode_size`` mini-episodes over any env (see module doc).

    lam: the discount in (0, 1). num_lengths: k; if None, read from the inner
    env's final ``info["num_lengths"]``. normalise: divide by ``info["m"]``.
    """

    def __init__(self, env: gym.Env, lam: float = 0.9, meta_episode_size: int = 32,
                 num_lengths: int | None = None, normalise: bool = True):
        super().__init__(env)
        if not _is_number(lam) or not 0.0 < lam < 1.0:
            raise DrestError(f"lam: the DReST discount must be strictly between 0 and 1, got {lam!r}")
        if not _is_int(meta_episode_size) or meta_episode_size < 1:
            raise DrestError(f"meta_episode_size: must be an integer >= 1, got {meta_episode_size!r}")
        if num_lengths is not None and (not _is_int(num_lengths) or num_lengths < 1):
            raise DrestError(f"num_lengths: must be an integer >= 1 or None, got {num_lengths!r}")
        self.lam, self.meta_episode_size = lam, int(meta_episode_size)
        self.num_lengths, self.normalise = num_lengths, normalise
        self._episode = None  # None until reset; 0 once the meta-episode has ended

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._seeds = np.random.default_rng(seed)
        elif not hasattr(self, "_seeds"):
            self._seeds = np.random.default_rng()
        self._world_seed = int(self._seeds.integers(2**31))
        # the same seed and options at every mini-episode's reset, so a chosen world stays chosen
        self._options = options
        self._counts: dict[int, int] = {}
        self._episode = 1
        self._coins = 0.0
        return self.env.reset(seed=self._world_seed, options=options)

    def step(self, action):
        if self._episode is None:
            raise DrestError("step: call reset() before step()")
        if self._episode == 0:
            raise DrestError("step: the meta-episode has ended (terminated=True); call reset() before stepping again")
        obs, r, terminated, truncated, info = self.env.step(action)
        self._coins += float(r)
        if not (terminated or truncated):
            return obs, 0.0, False, False, info
        if "length_index" not in info:
            raise DrestError("DReSTWrapper: the inner env's final info must report 'length_index' "
                             "(which trajectory length the episode ended with)")
        li = info["length_index"]
        k = self.num_lengths or info.get("num_lengths")
        if k is None:
            raise DrestError("num_lengths: pass DReSTWrapper(num_lengths=k) or report info['num_lengths']")
        if not _is_int(li) or not 0 <= li < k:
            raise DrestError(f"info['length_index']: must be an integer in 0..{k - 1} (k = {k} lengths), got {li!r}")
        m = info.get("m", 1.0) if self.normalise else 1.0
        if not _is_number(m) or not m > 0 or not np.isfinite(m):
            raise DrestError(f"info['m']: the most coins for this length must be a number > 0, got {m!r}; "
                             "or pass DReSTWrapper(normalise=False)")
        li, m = int(li), float(m)
        n_before = self._counts.get(li, 0)
        reward = float(drest_reward(self._coins, m, n_before, self._episode, k, self.lam))
        self._counts[li] = n_before + 1
        info = dict(info, drest_reward=reward, mini_episode=self._episode)
        if self._episode >= self.meta_episode_size:
            self._episode = 0
            return obs, reward, True, truncated, info
        self._episode += 1
        self._coins = 0.0
        obs, _ = self.env.reset(seed=self._world_seed, options=self._options)
        return obs, reward, False, False, info
