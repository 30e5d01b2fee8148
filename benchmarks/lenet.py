"""Convolutions: polymod's LeNet vs the same LeNet written natively; Keras' layouts.

    python benchmarks/lenet.py --quick --backends keras

The book's LeNet from ``polymod.examples.vision`` against the same LeNet written by
hand in each framework, NCHW (native_lenet.py: ``torch.nn.Sequential``,
``keras.Sequential`` of channels_first ``Conv2D``/``AveragePooling2D``, Gluon
``nn.Sequential`` of ``Conv2D``/``AvgPool2D``/``Dense``), with the same weights,
checked to agree; forward and forward+backward at batch 2 and 64; ratio = polymod /
native (no bare-ops reference, no budget). For Keras also one conv layer: polymod's
``Conv2d`` (NCHW forward, NHWC gradient ops behind transposes) vs ``Conv2D``
channels_first vs ``Conv2D`` channels_last on input already in NHWC: the cost of
the layout conversions.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import harness  # first: one thread everywhere
import native_lenet
import numpy as np
from native_lenet import INPUT

NAME = "conv"
BATCHES = (2, 64)


class ConvSuite:
    """polymod's LeNet and the same LeNet written natively in one framework (same weights)."""

    def __init__(self, framework: str):
        from polymod.examples import vision

        self.framework = framework
        self.net = harness.polymod_model(vision.LeNet, INPUT, framework)
        sd = {k.removeprefix("net."): np.asarray(v) for k, v in self.net.state_dict().items()}
        self.native = native_lenet.BUILDERS[framework](sd)
        self.native_params = (self.native.trainable_variables if framework == "keras"
                              else None)
        self.to_input = harness.to_input(framework)
        X = self.to_input(np.random.default_rng(1).random((2, *INPUT), dtype=np.float32))
        harness.check_same_numbers(f"{framework} LeNet: native output", self.native(X),
                                   self.net(X))

    def candidates(self, mode: str, batch: int) -> dict[str, Callable[[], Any]]:
        X = self.to_input(np.random.default_rng(1).random((batch, *INPUT), dtype=np.float32))
        fns = {"native": self.native, "polymod": self.net}
        return harness.step_candidates(self.framework, fns, X, mode, {
            "native": self.native_params,
            "polymod": [p.native for p in self.net.parameters()]})


def run_conv(ctx: harness.Context, batches: tuple[int, ...]) -> list[dict]:
    rows = []
    for fw in ctx.frameworks:
        suite = ConvSuite(fw)
        for mode in ("fwd", "fwd+bwd"):
            for batch in batches:
                times = ctx.compare(suite.candidates(mode, batch))
                row = {"model": "LeNet", "backend": fw, "mode": f"{mode} b{batch}",
                       "polymod_call": "polymod",
                       "us_native": round(times["native"], 2), "us_ops": None,
                       "us_polymod": round(times["polymod"], 2), "reference": "native",
                       "ratio": round(times["polymod"] / times["native"], 3)}
                rows.append(row)
                ctx.log(harness.format_row(row))
    return rows


def keras_conv_layout(ctx: harness.Context, batches: tuple[int, ...]) -> list[dict]:
    """One conv layer (LeNet's second: 6 -> 16 channels, 5x5, on 14x14) on Keras/TensorFlow:
    polymod's ``Conv2d`` (NCHW forward, NHWC gradient ops behind transposes) vs Keras
    ``Conv2D`` channels_first vs Keras ``Conv2D`` channels_last on input already in NHWC."""
    import keras
    import tensorflow as tf

    import polymod as pm

    pm.seed(0)
    layer = pm.nn.Conv2d(6, 16, kernel_size=5).to("keras")
    w = np.asarray(layer.weight.numpy()).transpose(2, 3, 1, 0)
    b = np.asarray(layer.bias.numpy())
    cf = keras.layers.Conv2D(16, 5, data_format="channels_first")
    cl = keras.layers.Conv2D(16, 5, data_format="channels_last")
    cf.build((None, 6, 14, 14))
    cl.build((None, 14, 14, 6))
    cf.set_weights([w, b])
    cl.set_weights([w, b])
    rows = []
    for batch in batches:
        x = np.random.default_rng(1).random((batch, 6, 14, 14), dtype=np.float32)
        X, X_nhwc = tf.convert_to_tensor(x), tf.convert_to_tensor(x.transpose(0, 2, 3, 1))
        ref = layer(X)
        harness.check_same_numbers("keras conv layer channels_first", cf(X), ref)
        harness.check_same_numbers("keras conv layer channels_last",
                                   cl(X_nhwc).numpy().transpose(0, 3, 1, 2), ref)
        params = {"polymod": [p.native for p in layer.parameters()],
                  "channels_first": cf.trainable_variables,
                  "channels_last": cl.trainable_variables}
        for mode in ("fwd", "fwd+bwd"):
            cands = harness.step_candidates("keras", {"polymod": layer, "channels_first": cf},
                                            X, mode, params)
            cands.update(harness.step_candidates("keras", {"channels_last": cl}, X_nhwc, mode,
                                                 params))
            t = ctx.compare(cands)
            rows.append({"layer": "Conv2d(6, 16, 5) on 14x14", "mode": f"{mode} b{batch}",
                         "us_polymod": round(t["polymod"], 2),
                         "us_keras_channels_first": round(t["channels_first"], 2),
                         "us_keras_channels_last_nhwc_input": round(t["channels_last"], 2),
                         "ratio_vs_channels_first": round(t["polymod"] / t["channels_first"], 3),
                         "ratio_vs_channels_last": round(t["polymod"] / t["channels_last"], 3)})
    return rows


def run(ctx: harness.Context) -> dict[str, Any]:
    if not ctx.frameworks:
        return {}
    ctx.log("\nconvolution: LeNet (polymod.examples.vision) vs the same LeNet written natively "
            "(NCHW, same weights; ratio = polymod / native, no budget):")
    ctx.log(harness.HEADER)
    result: dict[str, Any] = {"conv": run_conv(ctx, BATCHES)}
    if "keras" in ctx.frameworks:
        ctx.log("\nkeras, one conv layer: polymod Conv2d (NCHW) vs keras Conv2D channels_first "
                "vs channels_last on NHWC input:")
        result["conv_layout_keras"] = rows = keras_conv_layout(ctx, BATCHES)
        for r in rows:
            ctx.log(f"  {r['mode']:<14} polymod {r['us_polymod']:>9.1f} µs   channels_first "
                    f"{r['us_keras_channels_first']:>9.1f} µs   channels_last (NHWC input) "
                    f"{r['us_keras_channels_last_nhwc_input']:>9.1f} µs   ratio "
                    f"{r['ratio_vs_channels_first']:.2f} / {r['ratio_vs_channels_last']:.2f}")
    return result


if __name__ == "__main__":
    sys.exit(harness.run_alone(sys.modules[__name__]))
