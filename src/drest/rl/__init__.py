"""Deep RL for drest: PPO and A2C in JAX (PureJaxRL style), run directories, the CLI.

    from drest.rl import TrainConfig, make_train
    train = make_train(TrainConfig(algo="ppo", reward="drest", total_steps=1_000_000))
    out = jax.jit(train)(jax.random.PRNGKey(0))

Heavy work happens in ``ppo``/``a2c`` (one readable file each), ``networks``
(the actor-critic MLP), ``runs`` (chunked training with evaluation, checkpoints
and resume) and ``rundir`` (``RunDir``, the one reader of a run directory).
"""

from .config import TrainConfig, load_config, parse_steps
from .rundir import RunDir


def make_train(config):
    """``train(key)`` for ``config.algo`` (see ``drest.rl.ppo.make_train``)."""
    from . import a2c, ppo

    return (ppo if config.algo == "ppo" else a2c).make_train(config)


__all__ = ["RunDir", "TrainConfig", "load_config", "make_train", "parse_steps"]
