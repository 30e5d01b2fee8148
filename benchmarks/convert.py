"""pm.from_torch: conversion time, per-call time of converted models, and coverage.

    python benchmarks/convert.py            # all models, all installed backends
    python benchmarks/convert.py --quick    # fewer timing rounds

For each covered model: the seconds ``pm.from_torch`` takes (both traces and the
build), then the forward time per call (eval mode, no gradients, one thread) of the
torch original and of the converted model on each backend, as a ratio to the original.
Last, the share of distinct torch.nn layer types and of distinct functions / methods /
ATen ops seen in the covered models that convert (what does not convert is listed).
The torchvision models come from ``tests/torchvision_models.py`` (torchvision's code).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

import torch  # noqa: E402  (before TensorFlow)

import polymod as pm  # noqa: E402


def models() -> dict:
    import torchvision_models as tv
    from conftest import torch_oracle

    from polymod.examples import chapter

    def listing(name):
        pm.seed(0)
        net = chapter.LISTINGS[name]()
        net(pm.zeros(1, 20, backend="numpy"))
        return torch_oracle(name, net.state_dict())

    found = {
        "chapter MLP": (lambda: listing("MLP"), (torch.rand(2, 20),)),
        "chapter NestMLP": (lambda: listing("NestMLP"), (torch.rand(2, 20),)),
        "ResNet-18 64x64": (lambda: tv.resnet18(num_classes=10),
                            (torch.randn(2, 3, 64, 64),)),
        "ResNet-50 64x64": (lambda: tv.resnet50(num_classes=10),
                            (torch.randn(2, 3, 64, 64),)),
        "MobileNetV2 64x64": (lambda: tv.mobilenet_v2(num_classes=10),
                              (torch.randn(2, 3, 64, 64),)),
    }
    try:
        import transformers as hf
    except ImportError:
        return found
    found["BERT 2x32"] = (lambda: hf.BertModel(hf.BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37)), (torch.randint(0, 99, (2, 7)),))
    found["GPT-2 2x32"] = (lambda: hf.GPT2Model(hf.GPT2Config(
        vocab_size=99, n_embd=32, n_layer=2, n_head=4, use_cache=False, bos_token_id=0,
        eos_token_id=0)), (torch.randint(0, 99, (2, 7)),))
    return found


def per_call(fn, rounds: int) -> float:
    fn()
    best = float("inf")
    for _ in range(rounds):
        start, calls = time.perf_counter(), 0
        while time.perf_counter() - start < 0.2:
            fn()
            calls += 1
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def coverage(module, inputs) -> tuple[set, set, set, set]:
    """(layer types seen, layer types not converting, ops seen, ops not converting)."""
    from polymod.backends.torch.convert import layers, trace
    from polymod.backends.torch.convert.translate import Translator, origin

    seen_layers, bad_layers, seen_ops, bad_ops = set(), set(), set(), set()
    with trace.mode(module, False):
        kind, traced = trace.trace(module, inputs, None)
        graph = traced.graph_module.graph if kind == "export" else traced.graph
        tr = Translator(module, graph, exported=traced if kind == "export" else None)
        tr.run()
    failing = {p.split(" at ")[0] for p in tr.problems}
    for node in graph.nodes:
        if node.op == "call_module":
            name = type(module.get_submodule(node.target)).__name__
            seen_layers.add(name)
            if origin(node).split(" at ")[0] in failing:
                bad_layers.add(name)
        elif node.op in ("call_function", "call_method"):
            what = origin(node).split(" at ")[0]
            seen_ops.add(what)
            if what in failing:
                bad_ops.add(what)
    for path, sub in module.named_modules():  # layers folded from an ATen graph
        if path and layers.is_layer(sub) and not list(sub.children()):
            seen_layers.add(type(sub).__name__)
            try:
                layers.layer_spec(sub)
            except layers.NotConvertible:
                bad_layers.add(type(sub).__name__)
    return seen_layers, bad_layers, seen_ops, bad_ops


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rounds = 2 if args.quick else 5
    backends = pm.available_backends()
    totals = [set(), set(), set(), set()]
    print("| model | convert s | torch original us | " + " | ".join(
        f"{b} us (x original)" for b in backends) + " |")
    print("|---|---|---|" + "---|" * len(backends))
    for name, (factory, inputs) in models().items():
        torch.manual_seed(0)
        module = factory().eval()
        for total, part in zip(totals, coverage(module, inputs), strict=True):
            total |= part
        start = time.perf_counter()
        try:
            net = pm.from_torch(module, *inputs).eval()
        except pm.UnsupportedError as err:
            missing = sorted({n.rsplit(": ", 1)[-1] for n in err.nodes})
            print(f"| {name} | not yet: {'; '.join(missing)} |")
            continue
        seconds = time.perf_counter() - start
        with torch.no_grad():
            base = per_call(lambda: module(*inputs), rounds)  # noqa: B023
        cells = []
        for backend in backends:
            model = net.unbound_copy().to(backend)
            xs = [pm.asarray(x.numpy(), backend=backend) for x in inputs]
            adapter = pm.registry.adapter(backend)
            with adapter.no_grad():
                us = per_call(lambda: model(*xs), rounds)  # noqa: B023
            cells.append(f"{us:,.0f} ({us / base:.2f}x)")
        print(f"| {name} | {seconds:.2f} | {base:,.0f} | " + " | ".join(cells) + " |")
    seen_layers, bad_layers, seen_ops, bad_ops = totals
    print(f"\ntorch.nn layer types seen: {len(seen_layers)}, convert: "
          f"{len(seen_layers) - len(bad_layers)} "
          f"({100 * (1 - len(bad_layers) / max(len(seen_layers), 1)):.0f}%); not yet: "
          f"{sorted(bad_layers)}")
    print(f"functions / methods / ATen ops seen: {len(seen_ops)}, convert: "
          f"{len(seen_ops) - len(bad_ops)} "
          f"({100 * (1 - len(bad_ops) / max(len(seen_ops), 1)):.0f}%); not yet: "
          f"{sorted(bad_ops)}")
    np.random.seed(0)


if __name__ == "__main__":
    main()
