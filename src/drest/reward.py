"""The DReST reward (Discounted Reward for Same-Length Trajectories), and nothing else.

A meta-episode is M mini-episodes in the same world. In mini-episode E (1-based)
the agent ends with trajectory length L. With n the number of *earlier*
mini-episodes of this meta-episode that ended with length L, k the number of
available lengths and m(L) the most coin value collectable with length L, each
coin of value c collected in mini-episode E is worth

    r = lam ** (n - (E - 1) / k) * c / m(L)          (lam strictly in (0, 1))

The exponent is the excess of L's count over the mean count, so lengths chosen
more often than average are discounted. The *default* reward is the special
case lam = 1 with no normalisation (m = 1): r = c.

Every function here works on NumPy arrays and on JAX arrays (also under
``jax.jit``): the array module is taken from the inputs.
"""

from __future__ import annotations

from math import comb

import numpy as np


def _xp(*arrays):
    """NumPy or jax.numpy, whichever the inputs come from (JAX tracers included)."""
    for a in arrays:
        if type(a).__module__.startswith("jax"):
            import jax.numpy as jnp

            return jnp
    return np


def discount(n_before, episode, k, lam):
    """lam ** (n - (E - 1) / k): the DReST factor of mini-episode ``episode`` (1-based).

    ``n_before`` is how many earlier mini-episodes of the meta-episode ended with
    the same length; ``k`` the number of available lengths.
    """
    xp = _xp(n_before, episode, k, lam)
    return xp.power(lam, n_before - (episode - 1) / k)


def drest_reward(coins, m_length, n_before, episode, k, lam):
    """The DReST reward of a mini-episode that collected ``coins`` and ended with a
    length whose best achievable coin value is ``m_length``."""
    return discount(n_before, episode, k, lam) * coins / m_length


def meta_episode_rewards(lengths, coin_totals, m, k, lam):
    """DReST reward of each mini-episode of one meta-episode.

    lengths:     int[M], the length *index* (0..k-1) each mini-episode ended with,
                 in the order they were played.
    coin_totals: [M], coin value collected in each mini-episode.
    m:           [k], m(L) for each length index.
    k:           number of available lengths.
    lam:         the discount, in (0, 1); lam = 1 with m = 1 gives the default reward.

    Returns float[M]. Pass ``lam=1.0`` and ``m=np.ones(k)`` for the default reward.
    """
    xp = _xp(lengths, coin_totals, m)
    lengths = xp.asarray(lengths)
    onehot = (lengths[:, None] == xp.arange(k)[None, :]).astype(xp.float32)
    # counts strictly before each mini-episode: exclusive cumulative sum
    before = xp.cumsum(onehot, axis=0) - onehot
    n_before = xp.sum(before * onehot, axis=1)
    episode = xp.arange(1, lengths.shape[0] + 1)
    m_l = xp.asarray(m, dtype=xp.float32)[lengths]
    return drest_reward(xp.asarray(coin_totals, dtype=xp.float32), m_l, n_before, episode, k, lam)


def order_averaged_discount(count, meta_episode_size, k, lam):
    """The DReST factor of one of ``count`` same-length answers among
    ``meta_episode_size``, averaged over all orders in which the meta-episode
    could have been counted (exact; NumPy only).

    Samples drawn in parallel (a language model's group of completions) have no
    natural order; paying each the order-averaged factor removes the dependence
    on an arbitrary ordering. The position E is uniform on 1..M and, given E, the
    number n of the other ``count - 1`` same-length answers placed before it is
    hypergeometric.
    """
    M, c = int(meta_episode_size), int(count)
    if not 1 <= c <= M:
        raise ValueError(f"count must be in 1..meta_episode_size={M}, got {c}")
    total = 0.0
    for e in range(1, M + 1):
        denom = comb(M - 1, e - 1)
        for n in range(0, min(c - 1, e - 1) + 1):
            p = comb(c - 1, n) * comb(M - c, e - 1 - n) / denom
            total += p * lam ** (n - (e - 1) / k)
    return total / M
