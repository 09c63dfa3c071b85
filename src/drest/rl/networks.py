"""The actor-critic network: two separate MLPs on the flattened observation, as in the paper.

Plain JAX (a dict of arrays per layer) so parameters are an ordinary pytree of
arrays, cheap to vmap over seeds and to checkpoint as NumPy. Orthogonal
initialisation (gain sqrt(2) for hidden layers, 0.01 for the policy head, 1 for
the value head), as in PureJaxRL/CleanRL/SB3.

The observation arrives as int8 (``drest.env``) and is cast to float here.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..layout import N_ACTIONS

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu}
NUMPY_ACTIVATIONS = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, 0)}


def _dense(key, n_in, n_out, gain):
    w = jax.nn.initializers.orthogonal(gain)(key, (n_in, n_out), jnp.float32)
    return {"w": w, "b": jnp.zeros((n_out,), jnp.float32)}


def init_mlp(key, sizes: Sequence[int], out_gain: float):
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(_dense(k, a, b, out_gain if last else math.sqrt(2)))
    return layers


def apply_mlp(layers, x, activation, activations=ACTIVATIONS):
    act = activations[activation]
    for i, layer in enumerate(layers):
        x = x @ layer["w"] + layer["b"]
        if i < len(layers) - 1:
            x = act(x)
    return x


def init_actor_critic(key, obs_size: int, actor_hidden: Sequence[int], critic_hidden: Sequence[int]):
    ka, kc = jax.random.split(key)
    return {
        "actor": init_mlp(ka, [obs_size, *actor_hidden, N_ACTIONS], 0.01),
        "critic": init_mlp(kc, [obs_size, *critic_hidden, 1], 1.0),
    }


def actor_critic(params, obs, activation: str = "tanh"):
    """(logits [..., 4], value [...]) for an observation batch (any numeric dtype)."""
    x = obs.astype(jnp.float32)
    logits = apply_mlp(params["actor"], x, activation)
    value = apply_mlp(params["critic"], x, activation)[..., 0]
    return logits, value


def policy_probs(params, obs, activation: str = "tanh"):
    """Action probabilities [..., 4] from NumPy parameters; the form ``drest.metrics.evaluate_bank``
    wants. NumPy (float32, as in training), not JAX: evaluation during training then runs
    beside the next chunk instead of queueing behind it on the same XLA device."""
    logits = apply_mlp(params["actor"], np.asarray(obs, np.float32), activation, NUMPY_ACTIVATIONS)
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def matmul_flops(obs_size: int, hidden: Sequence[int], n_out: int) -> int:
    """Multiply-add FLOPs (2 per MAC) of one forward pass of one MLP for one input row."""
    sizes = [obs_size, *hidden, n_out]
    return sum(2 * a * b for a, b in zip(sizes[:-1], sizes[1:]))
