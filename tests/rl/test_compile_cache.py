"""Where the CLI keeps JAX's persistent compilation cache (drest.rl.cli._compile_cache)."""

import jax
import pytest

from drest.rl.cli import _compile_cache


@pytest.fixture
def restore_cache_dir():
    before = jax.config.jax_compilation_cache_dir
    yield
    jax.config.update("jax_compilation_cache_dir", before)


@pytest.mark.parametrize("env, expected", [
    ({"XDG_CACHE_HOME": "/x/cache"}, "/x/cache/drest/xla"),
    ({"HOME": "/home/u"}, "/home/u/.cache/drest/xla"),
    ({"DREST_COMPILE_CACHE": "/y/jax", "XDG_CACHE_HOME": "/x/cache"}, "/y/jax"),
])
def test_cache_directory(monkeypatch, restore_cache_dir, env, expected):
    for k in ("DREST_COMPILE_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    jax.config.update("jax_compilation_cache_dir", None)
    _compile_cache()
    assert jax.config.jax_compilation_cache_dir == expected


def test_off_leaves_jax_without_a_cache(monkeypatch, restore_cache_dir):
    monkeypatch.setenv("DREST_COMPILE_CACHE", "off")
    jax.config.update("jax_compilation_cache_dir", None)
    _compile_cache()
    assert jax.config.jax_compilation_cache_dir is None
