"""The native twin (``pm.native``) and importing a native model's weights."""

from __future__ import annotations

from typing import Any

from polymod import registry
from polymod.errors import BackendTypeError


def native_twin(module: Any) -> Any:
    raise BackendTypeError(f"The numpy backend has no native framework object; use "
                           f"pm.native on a model bound to {registry.frameworks_named()}.")


def export_weights(source: Any) -> Any:
    raise BackendTypeError("The numpy backend has no native models to import weights from.")
