"""What the agent lives in: the World value, packaged banks, augmentation, generation, the exact solver.

Nothing here needs JAX."""

from .augment import symmetries, translations
from .banks import BANKS, load_bank
from .generate import generate_worlds
from .solve import max_coins, solve
from .world import ACTIONS, World, WorldError, load_worlds, save_worlds

__all__ = [
    "ACTIONS", "BANKS", "World", "WorldError", "generate_worlds", "load_bank", "load_worlds",
    "max_coins", "save_worlds", "solve", "symmetries", "translations",
]
