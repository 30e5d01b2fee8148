"""Layers, following PyTorch's names, signatures and ``state_dict`` keys.

Example:
    >>> import polymod as pm
    >>> from polymod import nn
    >>> net = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
    >>> net(pm.rand(2, 20, backend="numpy")).shape
    (2, 10)
"""

from .activation import GELU, Identity, ReLU, Sigmoid, Softmax, Tanh
from .attention import MultiheadAttention, TransformerEncoder, TransformerEncoderLayer
from .container import ModuleDict, ModuleList, Parallel, Sequential, repeat
from .embedding import Embedding
from .linear import Dense, Flatten, LazyLinear, Linear
from .rnn import GRU, LSTM, RNN

__all__ = ["Linear", "LazyLinear", "Dense", "Flatten", "ReLU", "Sigmoid", "Tanh", "GELU",
           "Softmax", "Identity", "Sequential", "Parallel", "ModuleList", "ModuleDict", "repeat"]
__all__ += ["Embedding", "RNN", "GRU", "LSTM", "MultiheadAttention",
            "TransformerEncoderLayer", "TransformerEncoder"]
from .activation import (  # noqa: E402
    ELU,
    Hardsigmoid,
    Hardswish,
    LeakyReLU,
    LogSoftmax,
    ReLU6,
    SiLU,
    Softplus,
)
from .conv import (  # noqa: E402
    AdaptiveAvgPool2d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    LazyConv1d,
    LazyConv2d,
    MaxPool2d,
)
from .dropout import Dropout  # noqa: E402
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss  # noqa: E402
from .norm import (  # noqa: E402
    BatchNorm1d,
    BatchNorm2d,
    LayerNorm,
    LazyBatchNorm1d,
    LazyBatchNorm2d,
)

__all__ += ["Conv1d", "Conv2d", "LazyConv1d", "LazyConv2d", "MaxPool2d", "AvgPool2d",
            "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "LazyBatchNorm1d",
            "LazyBatchNorm2d", "LayerNorm", "Dropout", "SiLU", "LeakyReLU", "LogSoftmax",
            "CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss"]
__all__ += ["ReLU6", "Hardsigmoid", "Hardswish", "Softplus", "ELU"]
from .conv_transpose import ConvTranspose1d, ConvTranspose2d  # noqa: E402

__all__ += ["ConvTranspose1d", "ConvTranspose2d"]
from .pooling import AdaptiveAvgPool1d, AvgPool1d, MaxPool1d  # noqa: E402
from .upsample import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d  # noqa: E402

__all__ += ["MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "Upsample", "UpsamplingNearest2d",
            "UpsamplingBilinear2d"]
from .per_sample_norm import GroupNorm, InstanceNorm1d, InstanceNorm2d  # noqa: E402

__all__ += ["GroupNorm", "InstanceNorm1d", "InstanceNorm2d"]
