"""Threads and resources: ``use_backend`` is per thread, a model shared by threads gives
the right numbers (its first call included), and 10,000 calls do not grow memory."""

from __future__ import annotations

import gc
import os
import threading

import numpy as np
import pytest

import polymod as pm
from polymod import nn

THREADS = 4


def run_threads(target, n: int = THREADS) -> list:
    """Runs ``target(i)`` in ``n`` threads started together; returns results, raises errors."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as err:  # re-raised in the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def test_use_backend_is_per_thread():
    names = pm.available_backends()
    inside = threading.Barrier(len(names))

    def work(i: int) -> tuple:
        with pm.use_backend(names[i]):
            inside.wait()  # every thread is inside its own use_backend now
            seen = pm.get_backend()
            made = pm.backend_of(pm.rand(2, 3))
            inside.wait()
        return seen, made, pm.get_backend()

    before = pm.get_backend()
    results = run_threads(work, len(names))
    for name, (seen, made, after) in zip(names, results, strict=True):
        assert seen == name and made == name
        assert after == before  # leaving the block restores that thread's default only
    assert pm.get_backend() == before


def test_a_thread_sees_the_process_default_not_another_threads_scope():
    pm.set_backend("torch")  # the conftest fixture restores the process default
    with pm.use_backend("numpy"):
        other = run_threads(lambda i: pm.get_backend(), 1)[0]
        assert pm.get_backend() == "numpy"
    assert other == "torch"


def _net() -> pm.Module:
    pm.seed(0)
    return nn.Sequential(nn.LazyLinear(16), nn.Tanh(), nn.LazyLinear(4))


def _inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal((3, 5)).astype(np.float32) for _ in range(THREADS)]


def _expected(xs: list[np.ndarray]) -> list[np.ndarray]:
    with pm.use_backend("numpy"):
        net = _net()
        return [net(x) for x in xs]


def test_one_model_called_from_several_threads(backend):
    xs = _inputs()
    expected = _expected(xs)
    net = _net()
    net(pm.asarray(xs[0]))  # bound and built

    def work(i: int) -> list:
        x = pm.asarray(xs[i], backend=backend)
        return [pm.to_numpy(net(x)) for _ in range(50)]

    for i, outs in enumerate(run_threads(work)):
        for out in outs:
            pm.testing.assert_close(out, expected[i])


def test_a_fresh_lazy_model_first_called_from_several_threads(backend):
    """The first call binds and builds once; no thread sees half-made parameters."""
    xs = _inputs()
    expected = _expected(xs)
    for _ in range(5):
        net = _net()
        outs = run_threads(lambda i, net=net: pm.to_numpy(net(pm.asarray(xs[i],
                                                                         backend=backend))))
        assert len(list(net.parameters())) == 4
        assert net.backend == backend
        for i, out in enumerate(outs):
            pm.testing.assert_close(out, expected[i])


# -- memory ----------------------------------------------------------------------------------
def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


CALLS = 10_000
GROWTH_LIMIT = 16 * 2**20  # a leak of 2 KB per call would be 20 MB


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_ten_thousand_calls_do_not_grow_memory(backend):
    pm.seed(0)
    net = nn.Sequential(nn.LazyLinear(32), nn.ReLU(), nn.LazyLinear(8))
    x = pm.asarray(np.ones((2, 20), np.float32))
    x_np = np.ones((2, 20), np.float32)  # NumPy input takes the converting path
    for _ in range(500):  # warm-up: caches, allocator pools, framework kernels
        net(x)
        net(x_np)
    gc.collect()
    before = rss_bytes()
    for i in range(CALLS):
        out = net(x if i % 2 else x_np)
    pm.to_numpy(out)  # waits for asynchronous backends (MXNet)
    gc.collect()
    grew = rss_bytes() - before
    print(f"\n{backend}: RSS {before / 2**20:.1f} MiB -> {(before + grew) / 2**20:.1f} MiB "
          f"after {CALLS} calls ({grew / CALLS:.1f} bytes/call)")
    assert grew < GROWTH_LIMIT, f"{backend}: RSS grew {grew / 2**20:.1f} MiB in {CALLS} calls"
