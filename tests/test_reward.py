"""The DReST reward: hand-computed values, the default special case, JAX = NumPy, and the
property that motivates it (choosing lengths 50/50 maximises expected return)."""

import itertools
from math import isclose

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drest.reward import discount, drest_reward, meta_episode_rewards, order_averaged_discount


def test_meta_episode_rewards_by_hand():
    # lam=0.9, k=2, lengths [0,0,1,0], coins [1,2,3,1], m=[2,4]; exponent n - (E-1)/k:
    # E=1 L=0 n=0: 0 - 0   = 0    -> 0.9**0    * 1/2 = 0.5
    # E=2 L=0 n=1: 1 - 0.5 = 0.5  -> 0.9**0.5  * 2/2 = 0.9486833
    # E=3 L=1 n=0: 0 - 1   = -1   -> 0.9**-1   * 3/4 = 0.8333333
    # E=4 L=0 n=2: 2 - 1.5 = 0.5  -> 0.9**0.5  * 1/2 = 0.4743416
    r = meta_episode_rewards(np.array([0, 0, 1, 0]), np.array([1, 2, 3, 1]), np.array([2, 4]), 2, 0.9)
    np.testing.assert_allclose(r, [0.5, 0.9486833, 0.8333333, 0.4743416], rtol=1e-6)


def test_three_lengths_by_hand():
    # lam=0.5, k=3, lengths [2,2,2], coins = m = 1: exponents 0, 1-1/3, 2-2/3
    r = meta_episode_rewards(np.array([2, 2, 2]), np.ones(3), np.ones(3), 3, 0.5)
    np.testing.assert_allclose(r, [1.0, 0.5 ** (2 / 3), 0.5 ** (4 / 3)], rtol=1e-6)
    assert isclose(drest_reward(6, 3, 1, 2, 3, 0.5), 0.5 ** (2 / 3) * 2)


def test_default_reward_is_raw_coins():
    lengths, coins = np.array([0, 0, 0, 1, 0]), np.array([3, 0, 5, 2, 9])
    np.testing.assert_allclose(meta_episode_rewards(lengths, coins, np.ones(2), 2, 1.0), coins)


def test_reference_exponent_differs_by_a_constant_factor():
    # the release counts the current episode too: lam ** (count_after[L] - E/k); that is
    # our exponent plus 1 - 1/k at every step
    lam, k = 0.9, 2
    lengths = np.array([1, 0, 0, 1, 1, 1, 0])
    ours = meta_episode_rewards(lengths, np.ones(7), np.ones(2), k, lam)
    after = [np.sum(lengths[: e + 1] == L) for e, L in enumerate(lengths)]
    ref = [lam ** (a - (e + 1) / k) for e, a in enumerate(after)]
    np.testing.assert_allclose(ref, ours * lam ** (1 - 1 / k), rtol=1e-6)


def test_jax_jit_matches_numpy():
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    lengths, coins, m = rng.integers(0, 3, 32), rng.integers(0, 10, 32).astype(float), np.array([4.0, 7.0, 9.0])
    expected = meta_episode_rewards(lengths, coins, m, 3, 0.9)
    jitted = jax.jit(meta_episode_rewards, static_argnums=3)
    got = jitted(jnp.asarray(lengths), jnp.asarray(coins), jnp.asarray(m), 3, 0.9)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5)
    assert np.isclose(float(jax.jit(discount)(jnp.float32(2), 5, 2, 0.9)), discount(2, 5, 2, 0.9), rtol=1e-6)


M = 6
SEQUENCES = np.array(list(itertools.product([0, 1], repeat=M)))  # all 2^M length choices


def expected_return(p: float, lam: float) -> float:
    """Exact expected meta-episode return when every mini-episode collects c = m(L) and
    picks the long length (index 1) independently with probability p."""
    m = np.array([3.0, 5.0])
    returns = np.array([meta_episode_rewards(s, m[s], m, 2, lam).sum() for s in SEQUENCES])
    n_long = SEQUENCES.sum(axis=1)
    probs = p ** n_long * (1 - p) ** (M - n_long)
    return float(probs @ returns)


@settings(max_examples=40, deadline=None)
@given(p=st.floats(0, 1), lam=st.floats(0.3, 0.99))
def test_fifty_fifty_maximises_expected_return(p, lam):
    assert expected_return(0.5, lam) >= expected_return(p, lam) - 1e-9


def test_fifty_fifty_is_not_optimal_for_small_lambda():
    # lam ** -(E-1)/k grows fast when lam is small: a lopsided i.i.d. policy then gains more from
    # rare late minority picks than it loses. With M=6 the 50/50 optimum needs lam >~ 0.21
    # (M=32, the papers' size, needs lam >~ 0.83; they use 0.9).
    assert expected_return(0.233, 0.1) > expected_return(0.5, 0.1) + 5


@pytest.mark.parametrize("M_size,k,lam", [(1, 2, 0.9), (4, 2, 0.9), (5, 3, 0.7), (6, 2, 0.5)])
def test_order_averaged_discount_equals_brute_force(M_size, k, lam):
    # answers 0..count-1 share a length; average answer 0's factor over every order of play
    for count in range(1, M_size + 1):
        factors = []
        for order in itertools.permutations(range(M_size)):
            e = order.index(0) + 1
            n_before = sum(1 for a in order[: e - 1] if a < count)
            factors.append(lam ** (n_before - (e - 1) / k))
        assert isclose(order_averaged_discount(count, M_size, k, lam), np.mean(factors), rel_tol=1e-12)


def test_order_averaged_discount_rejects_bad_count():
    with pytest.raises(ValueError, match="count must be in 1..meta_episode_size=4"):
        order_averaged_discount(5, 4, 2, 0.9)
