"""Low-precision models: speed against each framework's own low-precision module, and the
memory of a ~100M-parameter model in bfloat16 against float32.

    python benchmarks/dtypes.py speed [--backends torch,keras,jax] [--dtypes ...]
    python benchmarks/dtypes.py memory [--backend torch]

``speed``: the chapter MLP (20 -> 256 -> 10, batch 64), microseconds per forward call of
the polymod model and of the framework's own module in the same dtype (torch:
``nn.Sequential(...).to(dtype)``; Keras: ``keras.Sequential`` with ``dtype=``; JAX: a
jitted-free ``jnp`` function), and the ratio polymod / native.

``memory``: each scenario in a fresh process; peak RSS (``ru_maxrss``) and the RSS after,
both minus the RSS once the framework is imported. Model: 6 x Linear(4096, 4096)
(100.7M parameters: 403 MB in float32, 201 MB in bfloat16).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def _per_call(fn, x, rounds: int = 7, calls: int = 100) -> float:
    """The best of ``rounds`` timings of ``calls`` calls, in microseconds per call."""
    for _ in range(20):
        fn(x)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn(x)
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def _native(backend: str, sd: dict, dtype: str):
    """The framework's own MLP with the same weights, in ``dtype``; and its input maker."""
    import polymod as pm

    if backend == "torch":
        import torch

        tdtype = getattr(torch, dtype)
        net = torch.nn.Sequential(torch.nn.Linear(20, 256), torch.nn.ReLU(),
                                  torch.nn.Linear(256, 10))
        net.load_state_dict({k.replace("hidden", "0").replace("out", "2"): torch.tensor(
            v.astype(np.float32)) for k, v in sd.items()})
        net = net.to(tdtype).eval()

        def run(x):
            with torch.no_grad():
                return net(x)
        return run
    if backend == "keras":
        import keras

        net = keras.Sequential([keras.layers.Dense(256, activation="relu", dtype=dtype),
                                keras.layers.Dense(10, dtype=dtype)])
        net.build((None, 20))
        net.set_weights([sd["hidden.weight"].T, sd["hidden.bias"], sd["out.weight"].T,
                         sd["out.bias"]])
        return lambda x: net(x)
    if backend == "jax":
        import jax.numpy as jnp

        w = {k: pm.asarray(v, backend="jax", dtype=dtype) for k, v in sd.items()}
        return lambda x: jnp.maximum(x @ w["hidden.weight"].T + w["hidden.bias"], 0) \
            @ w["out.weight"].T + w["out.bias"]
    raise ValueError(backend)


def speed(backends: list[str], dtypes: list[str]) -> None:
    import torch  # one thread: the machine is shared, and both sides get the same

    torch.set_num_threads(1)
    import polymod as pm
    from polymod.examples.chapter import MLP

    print(f"{'backend':8} {'dtype':9} {'polymod us':>10} {'native us':>10} {'ratio':>6}")
    for backend in backends:
        for dtype in dtypes:
            pm.seed(0)
            net = MLP()
            net.initialize(np.zeros((1, 20), np.float32))
            sd = net.state_dict()
            model = MLP()
            model.initialize(np.zeros((1, 20), np.float32))
            model.load_state_dict(sd)
            try:
                model = model.to(backend, dtype=dtype).eval()
            except pm.DTypeError as err:
                print(f"{backend:8} {dtype:9} {'refused':>10}  {str(err)[:70]}")
                continue
            x = pm.asarray(np.random.default_rng(0).random((64, 20)), backend=backend,
                           dtype=dtype)
            ours = _per_call(model, x)
            theirs = _per_call(_native(backend, sd, dtype), x)
            print(f"{backend:8} {dtype:9} {ours:10.1f} {theirs:10.1f} {ours / theirs:6.2f}",
                  flush=True)


SCENARIOS = {
    "float32 model": "net = make()",
    "float32 model, then .to(dtype='bfloat16')": "net = make(); net.to(dtype='bfloat16')",
    "built with dtype='bfloat16'": "net = make('bfloat16')",
    "bfloat16 file, pm.load into a bfloat16 model": "net = make('bfloat16'); "
                                                    "pm.load(net, PATH)",
    "bfloat16 file, pm.load(dtype=) into a float32 model": "net = make(); "
                                                           "pm.load(net, PATH, dtype='bfloat16')",
    "float32 file, pm.load into a float32 model": "net = make(); pm.load(net, PATH32)",
}


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _one(backend: str, code: str, path: str, path32: str) -> dict:
    script = f"""
import json, resource, sys, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, {os.path.dirname(__file__)!r})
import polymod as pm
from polymod import nn
from dtypes import _rss_kib
pm.registry.adapter({backend!r})
def make(dtype=None):
    layers = [nn.Linear(4096, 4096, dtype=dtype) for _ in range(6)]
    return nn.Sequential(*layers).to({backend!r})
nn.Sequential(nn.Linear(4, 4, dtype="bfloat16")).to({backend!r})  # the code paths loaded
base = _rss_kib()
PATH, PATH32 = {path!r}, {path32!r}
{code}
print(json.dumps({{"base": base, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "after": _rss_kib()}}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(backend: str) -> None:
    import polymod as pm
    from polymod import nn

    folder = tempfile.mkdtemp()
    path, path32 = os.path.join(folder, "bf16.safetensors"), os.path.join(folder, "f32.safetensors")
    pm.seed(0)
    net = nn.Sequential(*[nn.Linear(4096, 4096) for _ in range(6)])
    pm.save(net, path32)
    pm.save(net.to(dtype="bfloat16"), path)
    del net
    print(f"backend {backend}; model 6 x Linear(4096, 4096), 100.7M parameters; MB over the "
          f"RSS once the framework is loaded")
    print(f"{'scenario':55} {'peak MB':>8} {'after MB':>9}")
    for name, code in SCENARIOS.items():
        r = _one(backend, code, path, path32)
        print(f"{name:55} {(r['peak'] - r['base']) / 1024:8.0f} "
              f"{(r['after'] - r['base']) / 1024:9.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["speed", "memory"])
    parser.add_argument("--backends", default="torch,keras,jax")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--dtypes", default="float32,bfloat16,float16")
    options = parser.parse_args()
    if options.what == "speed":
        speed(options.backends.split(","), options.dtypes.split(","))
    else:
        memory(options.backend)


if __name__ == "__main__":
    main()
