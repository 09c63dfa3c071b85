import drest.rl  # noqa: F401  (sets drest's XLA flags before any JAX computation)
