"""The native twin (``pm.native``) and importing a native model's weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from .framework import autograd, gluon
from .inplace import recording_safe
from .tensors import to_numpy


class PolymodBlock(gluon.Block):
    """A Gluon ``Block`` over a polymod model's own parameters.

    ``collect_params()`` (neutral names), ``gluon.Trainer``, ``save_parameters`` /
    ``load_parameters`` and ``initialize(force_reinit=True)`` work on the model's own
    storage; the training flag of ``autograd.record(train_mode=...)`` governs the
    polymod model while it runs. ``hybridize()`` and ``cast()`` raise: MXNet 1.9
    compiles only ``hybrid_forward(F, ...)`` code, and polymod models keep their dtype.
    """

    def __init__(self, module: Any):
        super().__init__(prefix="")
        self.polymod_module = module
        for name, handle in module.named_handles(("parameter",)):
            self._params._params[name] = handle.native
            self._reg_params[name] = handle.native  # where save/load_parameters look

    def _follow_gluon(self) -> None:
        # Gluon's initialize/load may give a Parameter a new data array: the polymod
        # model must read that array from now on.
        for _, handle in self.polymod_module.named_handles(("parameter",)):
            data = handle.native.data()
            if data is not handle.value:
                handle.replace_value(data)

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self._follow_gluon()

    def load_parameters(self, *args: Any, **kwargs: Any) -> None:
        super().load_parameters(*args, **kwargs)
        self._follow_gluon()

    def cast(self, dtype: Any) -> None:
        from polymod.errors import StateError

        raise StateError(f"Cannot cast the Gluon twin of a polymod model to {dtype}: the "
                         f"polymod model keeps its dtype (float32). Build the model in the "
                         f"dtype you need instead.")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        module = self.polymod_module
        training = autograd.is_training()
        if training is not module.training:
            module.train(training)
        if not autograd.is_recording():
            return module(*args, **kwargs)
        with recording_safe():
            return module(*args, **kwargs)

    def hybridize(self, active: bool = True, **kwargs: Any) -> None:
        if not active:
            return
        from polymod.errors import StateError

        raise StateError(
            "Cannot hybridize a polymod model: MXNet 1.9 compiles only "
            "hybrid_forward(F, ...) code, and polymod modules run native operators "
            "eagerly. Train it as it is (imperative Gluon), or compare graph modes on the "
            "'torch' (torch.compile) or 'keras' (tf.function) backends.")


def native_twin(module: Any) -> PolymodBlock:
    return PolymodBlock(module)


def export_weights(source: Any) -> list[np.ndarray]:
    """A Gluon block's parameters in creation order (Gluon's layout is already (out, in))."""
    return [to_numpy(p.data()) for p in source.collect_params().values()]
