"""The book's LeNet (section 7.6) written by hand in each framework, NCHW.

The reference polymod's LeNet is timed against, so nothing here imports polymod. Each
builder takes the weights as NumPy arrays keyed as the PyTorch ``nn.Sequential`` below
names them (``0.weight``: the first conv, (out, in, kh, kw); ``7.weight``: the first
dense layer, (out, in); ...) and returns the framework's module holding them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: One image: channels, height, width.
INPUT = (1, 28, 28)
CONVS, DENSES = ("0", "3"), ("7", "9", "11")


def torch_lenet(sd: dict[str, np.ndarray]) -> Any:
    import torch
    from torch import nn

    native = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))
    native.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    return native


def keras_lenet(sd: dict[str, np.ndarray]) -> Any:
    import keras

    L = keras.layers
    cf = "channels_first"
    native = keras.Sequential([
        keras.Input((*INPUT,)),
        L.Conv2D(6, 5, padding="same", activation="sigmoid", data_format=cf),
        L.AveragePooling2D(2, 2, data_format=cf),
        L.Conv2D(16, 5, activation="sigmoid", data_format=cf),
        L.AveragePooling2D(2, 2, data_format=cf),
        L.Flatten(),  # channels_last (default) flattens NCHW in C order, as torch does
        L.Dense(120, activation="sigmoid"), L.Dense(84, activation="sigmoid"),
        L.Dense(10)])
    weights = []
    for k in CONVS:  # (out, in, kh, kw) -> (kh, kw, in, out)
        weights += [sd[f"{k}.weight"].transpose(2, 3, 1, 0), sd[f"{k}.bias"]]
    for k in DENSES:
        weights += [sd[f"{k}.weight"].T, sd[f"{k}.bias"]]
    native.set_weights(weights)
    return native


def gluon_lenet(sd: dict[str, np.ndarray]) -> Any:
    from mxnet import np as mnp
    from mxnet.gluon import nn

    native = nn.Sequential()
    native.add(nn.Conv2D(6, kernel_size=5, padding=2, in_channels=1),
               nn.Activation("sigmoid"), nn.AvgPool2D(pool_size=2, strides=2),
               nn.Conv2D(16, kernel_size=5, in_channels=6), nn.Activation("sigmoid"),
               nn.AvgPool2D(pool_size=2, strides=2),
               nn.Dense(120, in_units=400), nn.Activation("sigmoid"),  # flattens NCHW
               nn.Dense(84, in_units=120), nn.Activation("sigmoid"),
               nn.Dense(10, in_units=84))
    native.initialize()
    # Gluon has no Flatten block here (Dense flattens), so its indices after 5 are one less
    layers = {"0": native[0], "3": native[3], "7": native[6], "9": native[8], "11": native[10]}
    for k, layer in layers.items():
        layer.weight.set_data(mnp.array(sd[f"{k}.weight"]))
        layer.bias.set_data(mnp.array(sd[f"{k}.bias"]))
    for p in native.collect_params().values():
        p.grad_req = "write"
    return native


BUILDERS = {"torch": torch_lenet, "keras": keras_lenet, "gluon": gluon_lenet}
