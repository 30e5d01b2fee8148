"""Issue 12, threads: ``pm.seed`` and building models are reproducible per thread (and
per asyncio task); what is shared and what is not is documented in docs/input-policy.md
("Threads")."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

import polymod as pm
from polymod import nn


def build(count: int = 20, seed: int | None = 0) -> list[dict]:
    if seed is not None:
        pm.seed(seed)
    states = []
    for _ in range(count):
        net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.LazyLinear(4), nn.Dropout(0.5))
        net(pm.rand(2, 8, backend="numpy"))  # lazy shapes, input and dropout mask drawn too
        states.append(net.state_dict())
    return states


def same(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        list(x) == list(y) and all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a, b, strict=True))


def run_threads(count: int, target) -> list:
    results: list = [None] * count
    errors: list = []

    def work(i):
        try:
            results[i] = target(i)
        except BaseException as err:  # noqa: BLE001 -- reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def test_seed_and_build_in_each_thread_matches_the_serial_result():
    """Weak spot: 4 of 160 models differed from the serial run (one global generator)."""
    serial = build()
    results = run_threads(8, lambda i: build())
    assert all(same(r, serial) for r in results)


def test_a_thread_s_seed_does_not_move_another_thread_s_numbers():
    pm.seed(3)
    expected = [pm.to_numpy(pm.rand(4, backend="numpy")) for _ in range(3)]
    pm.seed(3)
    first = pm.to_numpy(pm.rand(4, backend="numpy"))
    run_threads(4, lambda i: build(count=2, seed=i))  # seeding and drawing elsewhere
    rest = [pm.to_numpy(pm.rand(4, backend="numpy")) for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(expected, [first, *rest], strict=True))


def test_a_thread_that_never_seeds_draws_from_the_main_thread_s_generator():
    """Decided: like PyTorch's one global generator. A lone worker started after
    pm.seed(0) in the main thread builds what the main thread would have built."""
    serial = build(count=3)
    pm.seed(0)
    (result,) = run_threads(1, lambda i: build(count=3, seed=None))
    assert same(result, serial)


def test_each_asyncio_task_keeps_its_own_seeded_generator():
    serial = build(count=3)

    async def task():
        pm.seed(0)
        out = []
        for _ in range(3):
            await asyncio.sleep(0)  # the other tasks draw in between
            out.extend(build(count=1, seed=None))
        return out

    async def main():
        return await asyncio.gather(*(task() for _ in range(4)))

    assert all(same(result, serial) for result in asyncio.run(main()))


def test_the_generator_state_can_be_saved_and_restored():
    pm.seed(5)
    state = pm.random.generator().bit_generator.state
    a = pm.to_numpy(pm.rand(3, backend="numpy"))
    pm.random.generator().bit_generator.state = state
    assert np.array_equal(a, pm.to_numpy(pm.rand(3, backend="numpy")))
