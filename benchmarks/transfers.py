"""Moving a large model between backends (``.to``, ``pm.save``/``pm.load``) vs a memcpy.

    python benchmarks/transfers.py --quick --backends torch,gluon

A 6 x ``Linear(4096, 4096)`` model (100.7M parameters, 403 MB; ``--quick``: 2 x
``Linear(256, 256)``) moved with ``net.to(other)`` between every pair of the selected
backends (``--quick``: one round trip), saved from the first and loaded into the last,
each in a fresh process, against a plain NumPy copy of the same bytes (and, for
``load``, a raw write + fsync + read); peak extra RSS (``VmHWM``, reset through
``/proc/self/clear_refs``) over the model size.
"""

from __future__ import annotations

import sys
from typing import Any

import harness  # first: one thread everywhere

NAME = "transfer"

TRANSFER_SCRIPT = r"""
import json, os, sys, tempfile, time
for v in ("OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
import warnings
warnings.simplefilter("ignore")
import numpy as np
src, dst, how, width, depth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
if "torch" in (src, dst) or "keras" in (src, dst):
    import torch
    torch.set_num_threads(1)
import polymod as pm
from polymod import nn
from polymod import registry as B
B.adapter(src); B.adapter(dst)

def rss():
    with open("/proc/self/status") as f:
        return {l.split(":")[0]: int(l.split()[1]) * 1024 for l in f if l.startswith(("VmRSS", "VmHWM"))}

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False

pm.seed(0)
net = nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)])
# the weights, drawn without the per-element init cost: one fast fill
for p in net.parameters():
    p.assign(np.full(p.shape, 0.01, np.float32))
net = net.to(src)
nbytes = sum(p.size * 4 for p in net.parameters())
arrays = [p.numpy() for p in net.parameters()]
# reference: a plain NumPy memory copy of the same bytes (fresh destination buffers)
memcopy_s = float("inf")
for _ in range(3):
    t = time.perf_counter(); copies = [a.copy() for a in arrays]
    memcopy_s = min(memcopy_s, time.perf_counter() - t)
    del copies
del arrays
import gc; gc.collect()
folder = tempfile.mkdtemp(dir=os.environ.get("BENCH_TMP"))
path = os.path.join(folder, "m.safetensors")
if how == "load":
    target = nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)]).to(dst)
    pm.save(net, path)
    # raw disk reference: write + fsync + read back the same bytes
    raw = os.path.join(folder, "raw.bin")
    blob = [p.numpy() for p in net.parameters()]
    t = time.perf_counter()
    with open(raw, "wb") as f:
        for a in blob:
            f.write(memoryview(a).cast("B"))
        f.flush(); os.fsync(f.fileno())
    back = np.fromfile(raw, dtype=np.float32)
    raw_s = time.perf_counter() - t
    del blob, back
    os.unlink(raw)
    gc.collect()
before = rss()["VmRSS"]
peak_ok = reset_peak()
t = time.perf_counter()
if how == "to":
    out = net.to(dst)
elif how == "save":
    pm.save(net, path)
elif how == "load":
    pm.load(target, path)
else:  # save+load
    pm.save(net, path)
    target = nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)]).to(dst)
    pm.load(target, path)
elapsed = time.perf_counter() - t
after = rss()
res = {"src": src, "dst": dst, "how": how, "params": nbytes // 4, "model_mb": nbytes / 2**20,
       "seconds": elapsed, "memcopy_seconds": memcopy_s, "ratio_vs_memcopy": elapsed / memcopy_s,
       "peak_extra_mb": (after["VmHWM"] - before) / 2**20 if peak_ok else None,
       "peak_extra_over_model": (after["VmHWM"] - before) / nbytes if peak_ok else None}
if how == "load":
    res["raw_write_fsync_read_seconds"] = raw_s
print(json.dumps(res))
"""


def transfers(frameworks: list[str], width: int, depth: int, quick: bool = False) -> list[dict]:
    pairs = [(a, b) for a in frameworks for b in frameworks if a != b]
    if quick:  # one round trip is enough to check that it runs
        pairs = pairs[:1] + [(b, a) for a, b in pairs[:1]]
    jobs = [(a, b, "to") for a, b in pairs]
    if frameworks:
        jobs += [(frameworks[0], frameworks[-1], "save"), (frameworks[0], frameworks[-1], "load")]
    rows = []
    for src, dst, how in jobs:
        r = harness.run_script(TRANSFER_SCRIPT, src, dst, how, width, depth)
        if "error" in r:
            rows.append({"src": src, "dst": dst, "how": how, "error": r["error"]})
            continue
        rows.append({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()})
    return rows


def run(ctx: harness.Context) -> dict[str, Any]:
    if not ctx.frameworks:
        return {}
    # 6 x Linear(4096, 4096) = 100.7M parameters (403 MB); --quick: 2 x Linear(256, 256)
    width, depth = (256, 2) if ctx.quick else (4096, 6)
    ctx.log(f"\nmoving a {depth} x Linear({width}, {width}) model between backends:")
    rows = transfers(ctx.frameworks, width, depth, ctx.quick)
    for r in rows:
        ctx.log(f"  {r}")
    return {"transfer": rows}


if __name__ == "__main__":
    sys.exit(harness.run_alone(sys.modules[__name__]))
