"""Where the CLI keeps JAX's persistent compilation cache (drest.rl.cli._compile_cache)."""

import multiprocessing
import os

import jax
import pytest

from drest.rl.cli import _compile_cache


@pytest.fixture
def restore_cache_dir():
    before = jax.config.jax_compilation_cache_dir, os.environ.get("JAX_COMPILATION_CACHE_DIR")
    yield
    jax.config.update("jax_compilation_cache_dir", before[0])
    if before[1] is None:
        os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
    else:
        os.environ["JAX_COMPILATION_CACHE_DIR"] = before[1]


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


def _child_cache_dir(queue):
    import jax

    queue.put(jax.config.jax_compilation_cache_dir)


def test_spawned_workers_use_the_same_cache(monkeypatch, restore_cache_dir, tmp_path):
    """`drest reproduce` trains in spawned processes; they must find the cache too."""
    monkeypatch.setenv("DREST_COMPILE_CACHE", str(tmp_path / "xla"))
    _compile_cache()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_cache_dir, args=(queue,))
    child.start()
    got = queue.get(timeout=120)
    child.join()
    assert got == str(tmp_path / "xla")
