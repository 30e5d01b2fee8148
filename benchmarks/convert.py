"""pm.from_torch: conversion time, per-call time of converted models, coverage.

    python benchmarks/convert.py                          # every covered model
    python benchmarks/convert.py --quick --models mlp,resnet18 --backends torch

For each covered model (the chapter's MLP and NestMLP, ResNet-18/50 and MobileNetV2 as
torchvision writes them, Hugging Face's BertModel and GPT2Model): the seconds
``pm.from_torch`` takes (both traces and the build); then the forward time per call
(eval mode, no gradients, one thread, alternating rounds, best kept) of the torch
original and of the converted model on each backend, and of the hand-written polymod
version of the same architecture where one exists (``polymod.examples.resnet``,
``bert``, ``gpt2``), with the same weights (checked to compute the same numbers first).
The target is converted / hand-written <= 1.10. Last, the share of the distinct
torch.nn layer types and of the distinct functions, methods, operators and ATen ops
seen in the traces of these models that convert (what does not is listed).

JSON keys: ``convert`` (one row per model and backend), ``convert_seconds`` (per
model), ``convert_coverage``. Not part of ``bench.py`` (converting the models takes
about a minute); the torchvision models come from ``tests/torchvision_models.py``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import harness  # first: one thread everywhere
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

NAME = "convert"
MODELS = ("mlp", "nestmlp", "resnet18", "resnet50", "mobilenetv2", "bert", "gpt2")


def add_arguments(parser: Any) -> None:
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated models among " + ",".join(MODELS))


# -- the models --------------------------------------------------------------------------------
def _listing(name: str) -> Any:
    from conftest import torch_oracle

    import polymod as pm
    from polymod.examples import chapter

    pm.seed(0)
    net = chapter.LISTINGS[name]()
    net(pm.zeros(1, 20, backend="numpy"))
    return torch_oracle(name, net.state_dict())


def _handwritten(module_name: str, build: Callable[[Any, Any], Any]) -> Callable | None:
    """``build(example_module, torch_model)`` where ``polymod.examples.<module_name>``
    exists (the hand-written models), else None."""
    if importlib.util.find_spec(f"polymod.examples.{module_name}") is None:
        return None
    example = importlib.import_module(f"polymod.examples.{module_name}")
    return lambda original: build(example, original)


def models(quick: bool) -> dict[str, tuple]:
    """``name: (label, torch factory, example inputs, hand-written builder or None)``."""
    import torch
    import torchvision_models as tv

    size = 32 if quick else 64
    images = torch.from_numpy(np.random.default_rng(0).standard_normal(
        (2, 3, size, size)).astype(np.float32))
    tokens = torch.from_numpy(np.random.default_rng(0).integers(0, 1000, (2, 16)))
    vector = torch.from_numpy(np.random.default_rng(0).random((2, 20), dtype=np.float32))
    found: dict[str, tuple] = {
        "mlp": ("chapter MLP 2x20", lambda: _listing("MLP"), (vector,), None),
        "nestmlp": ("chapter NestMLP 2x20", lambda: _listing("NestMLP"), (vector,), None),
        "resnet18": (f"ResNet-18 2x3x{size}x{size}", lambda: tv.resnet18(num_classes=10),
                     (images,), _handwritten("resnet", lambda ex, m: ex.resnet18(
                         num_classes=10))),
        "resnet50": (f"ResNet-50 2x3x{size}x{size}", lambda: tv.resnet50(num_classes=10),
                     (images,), _handwritten("resnet", lambda ex, m: ex.resnet50(
                         num_classes=10))),
        "mobilenetv2": (f"MobileNetV2 2x3x{size}x{size}",
                        lambda: tv.mobilenet_v2(num_classes=10), (images,), None),
    }
    if importlib.util.find_spec("transformers") is None:
        return found
    import transformers as hf

    found["bert"] = ("BertModel 2x16 (H 128, 2 layers)", lambda: hf.BertModel(hf.BertConfig(
        vocab_size=1000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=512, max_position_embeddings=512)), (tokens,),
        _handwritten("bert", lambda ex, m: ex.BertModel(ex.BertConfig.from_hf(m.config))))
    found["gpt2"] = ("GPT2Model 2x16 (H 64, 2 layers)", lambda: hf.GPT2Model(hf.GPT2Config(
        vocab_size=1000, n_positions=128, n_embd=64, n_layer=2, n_head=4, use_cache=False,
        bos_token_id=0, eos_token_id=0)), (tokens,),
        _handwritten("gpt2", lambda ex, m: ex.GPT2Model(ex.GPT2Config.from_hf(m.config))))
    return found


# -- timing ------------------------------------------------------------------------------------
def _first(out: Any) -> Any:
    """The first tensor of an output nest (a dict of a Hugging Face model)."""
    while isinstance(out, (dict, tuple, list)):
        out = next(iter(out.values())) if isinstance(out, dict) else out[0]
    return out


def _call(model: Any, xs: list, backend: str) -> Callable[[], Any]:
    import polymod as pm

    adapter = pm.registry.adapter(backend)
    if backend == "gluon":  # MXNet runs asynchronously: wait for the result
        def step():
            with adapter.no_grad():
                _first(model(*xs)).wait_to_read()
        return step

    def call():
        with adapter.no_grad():
            return model(*xs)
    return call


def _time_model(ctx: harness.Context, key: str, entry: tuple) -> tuple[list[dict], dict]:
    import torch

    import polymod as pm

    label, factory, inputs, handwritten = entry
    torch.manual_seed(0)
    original = factory().eval()
    start = time.perf_counter()
    net = pm.from_torch(original, *inputs).eval()
    seconds = time.perf_counter() - start
    hand = None
    if handwritten is not None:
        hand = handwritten(original).eval()
        hand.load_state_dict({k: v.numpy() for k, v in original.state_dict().items()},
                             strict=False)
    with torch.no_grad():
        want = _first(original(*inputs)).numpy()

    def run_original():
        with torch.no_grad():
            return original(*inputs)

    rows = []
    for backend in ctx.frameworks:
        xs = [pm.asarray(x.numpy(), backend=backend) for x in inputs]
        converted = net.unbound_copy().to(backend)
        candidates = {"original": run_original, "converted": _call(converted, xs, backend)}
        harness.check_same_numbers(f"{label} converted on {backend}", want,
                                   _first(converted(*xs)))
        if hand is not None:
            written = hand.unbound_copy().to(backend)
            harness.check_same_numbers(f"{label} hand-written on {backend}", want,
                                       _first(written(*xs)))
            candidates["handwritten"] = _call(written, xs, backend)
        times = ctx.compare(candidates)
        row = {"model": key, "label": label, "backend": backend,
               "us_torch_original": round(times["original"], 1),
               "us_converted": round(times["converted"], 1),
               "x_original": round(times["converted"] / times["original"], 3),
               "us_handwritten": None, "x_handwritten": None}
        if hand is not None:
            row["us_handwritten"] = round(times["handwritten"], 1)
            row["x_handwritten"] = round(times["converted"] / times["handwritten"], 3)
        rows.append(row)
        ctx.log(_format(row))
    return rows, {"model": key, "label": label, "seconds": round(seconds, 2)}


HEADER = (f"{'model':<34} {'backend':<7} {'torch µs':>10} {'converted µs':>13} "
          f"{'x torch':>8} {'hand-written µs':>16} {'x hand':>7}")


def _format(r: dict) -> str:
    hand = "n/a" if r["us_handwritten"] is None else f"{r['us_handwritten']:.1f}"
    ratio = "-" if r["x_handwritten"] is None else f"{r['x_handwritten']:.3f}"
    return (f"{r['label']:<34} {r['backend']:<7} {r['us_torch_original']:>10.1f} "
            f"{r['us_converted']:>13.1f} {r['x_original']:>8.3f} {hand:>16} {ratio:>7}")


# -- coverage ----------------------------------------------------------------------------------
_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")


def coverage(module: Any, inputs: tuple) -> dict[str, set]:
    """The torch.nn layer types and the operations in the model's eval trace, and those of
    them that do not convert."""
    from polymod.backends.torch.convert import layers, trace
    from polymod.backends.torch.convert.translate import Translator, origin

    with trace.mode(module, False):
        kind, traced = trace.trace(module, inputs, None)
        graph = traced.graph_module.graph if kind == "export" else traced.graph
        tr = Translator(module, graph, exported=traced if kind == "export" else None)
        tr.run()
    failing = {p.split(" at ")[0].split(": ")[0] for p in tr.problems}
    found: dict[str, set] = {"layers": set(), "layers_failing": set(), "ops": set(),
                             "ops_failing": set()}
    for sub in module.modules():  # every torch.nn layer of the model, mapped or not
        cls = type(sub)
        if cls.__module__.startswith("torch.nn.") and cls.__name__ not in _CONTAINERS:
            found["layers"].add(cls.__name__)
            try:
                layers.layer_spec(sub)
            except layers.NotConvertible:
                found["layers_failing"].add(cls.__name__)
    for node in graph.nodes:
        if node.op in ("call_function", "call_method"):
            what = origin(node).split(" at ")[0]
            found["ops"].add(what)
            if what in failing:
                found["ops_failing"].add(what)
    return found


def _share(seen: set, failing: set) -> str:
    return (f"{len(seen) - len(failing)} of {len(seen)} "
            f"({100 * (1 - len(failing) / max(len(seen), 1)):.0f}%)")


# -- the part ----------------------------------------------------------------------------------
def run(ctx: harness.Context) -> dict:
    import torch

    torch.set_num_threads(1)
    wanted = [m.strip() for m in ctx.args.models.split(",") if m.strip()]
    unknown = sorted(set(wanted) - set(MODELS))
    if unknown:
        raise SystemExit(f"--models takes {','.join(MODELS)}; received {unknown}")
    available = models(ctx.quick)
    rows, seconds = [], []
    totals: dict[str, set] = {"layers": set(), "layers_failing": set(), "ops": set(),
                              "ops_failing": set()}
    ctx.log("\npm.from_torch: forward µs per call (eval, no gradients), converted model "
            "against the torch original and the hand-written polymod model")
    ctx.log(HEADER)
    for key in wanted:
        if key not in available:
            ctx.log(f"{key:<34} skipped: transformers is not installed")
            continue
        label, factory, inputs, _ = available[key]
        torch.manual_seed(0)
        for name, part in coverage(factory().eval(), inputs).items():
            totals[name] |= part
        model_rows, conversion = _time_model(ctx, key, available[key])
        rows += model_rows
        seconds.append(conversion)
    ctx.log("\nconversion time: " + ", ".join(f"{s['label']} {s['seconds']:.2f} s"
                                               for s in seconds))
    ctx.log(f"torch.nn layer types seen: {_share(totals['layers'], totals['layers_failing'])}"
            f" convert; not: {sorted(totals['layers_failing']) or 'none'}")
    ctx.log(f"functions / methods / operators / ATen ops seen: "
            f"{_share(totals['ops'], totals['ops_failing'])} convert; not: "
            f"{sorted(totals['ops_failing']) or 'none'}")
    result = {name: sorted(values) for name, values in totals.items()}
    return {"convert": rows, "convert_seconds": seconds, "convert_coverage": result}


if __name__ == "__main__":
    sys.exit(harness.run_alone(sys.modules[__name__]))
