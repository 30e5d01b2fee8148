"""The backends polymod knows, one spec each, and finding the adapter of a name or a tensor.

This is the only file of the core that names a framework. Everything else (error
messages, the refusal of framework layers as attributes, ``pm.load_native``, the
pytest plugin, the test matrix, ``polymod info``) reads these specs, so adding a
backend is one adapter module in ``backends/`` plus one ``BackendSpec`` here.

Adapters are imported the first time they are needed; ``import polymod`` imports no
framework. A tensor's adapter is found by a dict lookup on ``type(x)``; the first
tensor of a new type is resolved once (einops' ``_type2backend`` idea) and cached.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any, NamedTuple

from .errors import BackendNameError, BackendTypeError, BackendUnavailableError


class BackendSpec(NamedTuple):
    """What polymod needs to know about one backend before importing anything of it.

    Attributes:
        name: the canonical name (``pm.set_backend(name)``, ``net.to(name)``).
        requires: the Python packages its framework needs (checked without importing).
        extra: the pip extra of polymod that installs them (None: always present).
        aliases: other accepted names (``'tf'`` for ``'keras'``).
        owns: top-level module names whose classes belong to this framework: a layer,
            model or parameter of one of them is refused as a module attribute, and
            ``pm.load_native`` takes such objects.
        tensor: how error messages name its tensor type.
        reference: the forward-only NumPy oracle (no gradients, no native twin).
        immutable: its arrays cannot be written in place (JAX): ``assign`` returns a new
            one and the handle re-points itself.
        converts: other array types of the framework that polymod does not take:
            ``(module.qualname, what it is, the expression converting x to tensor)``;
            error messages about such input show the conversion.
        distributions: the pip distributions (the framework and the compiled packages it
            imports on start-up) whose declared NumPy requirement ``polymod info``
            checks against the installed NumPy (polymod.environment).
        numpy_pin: the NumPy range its extra pins ('' for none): MXNet 1.9.1 needs < 2.
        converter: the subpackage of its adapter that converts the framework's own models
            into polymod source (``pm.from_torch``; '' for none).
    """

    name: str
    requires: tuple[str, ...]
    extra: str | None
    aliases: tuple[str, ...] = ()
    owns: tuple[str, ...] = ()
    tensor: str = ""
    reference: bool = False
    immutable: bool = False
    converts: tuple[tuple[str, str, str], ...] = ()
    distributions: tuple[str, ...] = ()
    numpy_pin: str = ""
    converter: str = ""

    @property
    def adapter_module(self) -> str:
        """Where its adapter lives."""
        return f"polymod.backends.{self.name}"

    @property
    def install_hint(self) -> str:
        """The pip command that installs it."""
        return f"pip install 'polymod[{self.extra}]'" if self.extra else "pip install polymod"


SPECS: tuple[BackendSpec, ...] = (
    BackendSpec("numpy", requires=(), extra=None, tensor="NumPy array", reference=True),
    BackendSpec("torch", requires=("torch",), extra="torch", owns=("torch",),
                tensor="torch.Tensor", distributions=("torch",), converter="convert"),
    BackendSpec("keras", requires=("tensorflow", "keras"), extra="keras",
                aliases=("tensorflow", "tf"), owns=("keras", "tensorflow", "tf_keras"),
                tensor="TensorFlow tensor",
                distributions=("tensorflow", "tensorflow-cpu", "keras", "ml_dtypes", "h5py")),
    BackendSpec("gluon", requires=("mxnet",), extra="gluon", aliases=("mxnet", "mx"),
                owns=("mxnet",), tensor="mx.np.ndarray",
                converts=(("mxnet.ndarray.ndarray.NDArray", "MXNet's legacy NDArray",
                           "x.as_np_ndarray()"),),
                distributions=("mxnet",), numpy_pin="<2"),
    BackendSpec("jax", requires=("jax", "jaxlib"), extra="jax", owns=("jax", "flax", "equinox"),
                tensor="jax.Array", immutable=True,
                distributions=("jax", "jaxlib", "ml_dtypes", "scipy")),
)
#: The pip distribution of NumPy (the reference backend's array library, and polymod's
#: one dependency).
NUMPY_DISTRIBUTION = "numpy"

_BY_NAME = {spec.name: spec for spec in SPECS}
_ALIASES = {alias: spec.name for spec in SPECS for alias in spec.aliases}
_OWNER = {module: spec for spec in SPECS for module in spec.owns}

#: Every backend name, the reference first.
NAMES: tuple[str, ...] = tuple(spec.name for spec in SPECS)
#: The backends with gradients and native twins (every one but the reference).
FRAMEWORKS: tuple[str, ...] = tuple(spec.name for spec in SPECS if not spec.reference)
#: The neutral layout of every tensor (a Linear weight is (out, in), data is NC...):
#: PyTorch's. Recorded in weight files' metadata.
NEUTRAL_LAYOUT = "torch"
#: The forward-only reference backend.
REFERENCE: str = next(spec.name for spec in SPECS if spec.reference)

_adapters: dict[str, ModuleType] = {}
#: type(tensor) -> adapter; read directly by the hot paths of ``polymod.ops``.
adapter_by_type: dict[type, ModuleType] = {}
#: The frameworks' tensor types seen so far (never NumPy's): ``Module.__call__`` takes its
#: fast path for these.
framework_types: set[type] = set()


def _remember(tensor_type: type, module: ModuleType) -> None:
    adapter_by_type.setdefault(tensor_type, module)
    if module.NAME != REFERENCE:
        framework_types.add(tensor_type)


def spec(name: str) -> BackendSpec:
    """The spec of backend ``name`` (or an alias of it)."""
    return _BY_NAME[canonical_name(name)]


def canonical_name(name: str) -> str:
    """Returns the canonical backend name for ``name`` or an alias of it.

    Raises:
        BackendNameError: ``name`` is not a backend; the message lists the valid names.
    """
    if not isinstance(name, str):
        raise BackendNameError(
            f"A backend name must be a string; received {type(name).__name__} {name!r}. "
            f"Valid names: {valid_names()}.")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _BY_NAME:
        raise BackendNameError(f"Unknown backend {name!r}. Valid names: {valid_names()}.")
    return key


def valid_names() -> str:
    """The backend names and aliases, for error messages."""
    aliases = ", ".join(f"{a!r} (= {b!r})" for a, b in _ALIASES.items())
    return ", ".join(repr(b) for b in NAMES) + "; aliases " + aliases


def frameworks_named() -> str:
    """The backends with gradients, for error messages: "'torch', 'keras', ... or 'jax'"."""
    names = [repr(name) for name in FRAMEWORKS]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


def tensor_kinds() -> str:
    """How error messages list the accepted tensor types."""
    return ", ".join(spec.tensor for spec in SPECS)


def is_installed(name: str) -> bool:
    """Whether the framework of backend ``name`` can be imported (it is not imported)."""
    return all(importlib.util.find_spec(m) is not None for m in spec(name).requires)


def available_backends() -> list[str]:
    """Lists the backends whose frameworks are installed, without importing them.

    Example:
        >>> import polymod as pm
        >>> "numpy" in pm.available_backends()
        True
    """
    return [name for name in NAMES if is_installed(name)]


def loaded() -> list[str]:
    """The backends whose adapters are imported already."""
    return list(_adapters)


def adapter(name: str) -> ModuleType:
    """Returns the adapter module of backend ``name``, importing it on first use.

    Raises:
        BackendNameError: unknown name.
        BackendUnavailableError: the framework is not installed (names the pip extra).
    """
    found = _adapters.get(name)
    if found is not None:
        return found
    chosen = spec(name)
    if chosen.name not in _adapters:
        missing = [m for m in chosen.requires if importlib.util.find_spec(m) is None]
        if missing:
            raise BackendUnavailableError(
                f"Backend {chosen.name!r} needs {', '.join(missing)}, which is not installed. "
                f"Install it with: {chosen.install_hint}") from None
        module = importlib.import_module(chosen.adapter_module)
        _adapters[chosen.name] = module
        for tensor_type in module.TENSOR_TYPES:
            _remember(tensor_type, module)
    return _adapters[chosen.name]


def adapter_of(x: Any) -> ModuleType:
    """The adapter owning tensor ``x`` (the reference adapter for NumPy arrays).

    Raises:
        BackendTypeError: ``x`` is not a tensor of any backend.
    """
    try:
        return adapter_by_type[type(x)]
    except KeyError:
        return _resolve_type(x)


def _resolve_type(x: Any) -> ModuleType:
    kind = type(x)
    for each in SPECS:
        # Only a framework the user (or polymod) already imported can own x.
        if each.requires and each.requires[0] not in sys.modules:
            continue
        module = adapter(each.name)
        if isinstance(x, module.TENSOR_TYPES):
            _remember(kind, module)
            return module
    raise BackendTypeError(f"Expected a tensor ({tensor_kinds()}); received "
                           f"{kind.__module__}.{kind.__qualname__}.{conversion_hint(x)}")


def conversion_hint(x: Any) -> str:
    """For an array type of a framework that polymod does not take (MXNet's legacy
    ``NDArray``), a sentence saying how to convert it; otherwise ''."""
    for cls in type(x).__mro__:
        name = f"{cls.__module__}.{cls.__qualname__}"
        for each in SPECS:
            for legacy, what, how in each.converts:
                if name == legacy:
                    return (f" It is {what}: convert it with {how} (the {each.name} "
                            f"backend's {each.tensor}).")
    return ""


def backend_of(x: Any) -> str:
    """Names the backend a tensor belongs to: 'torch', 'keras', 'gluon', 'jax' or 'numpy'.

    Example:
        >>> import numpy as np, polymod as pm
        >>> pm.backend_of(np.zeros(3))
        'numpy'
    """
    return adapter_of(x).NAME


def framework_of(value: Any) -> BackendSpec | None:
    """The backend whose framework defines ``type(value)`` (or a base class of it), if any.

    Decided from the classes' modules, so nothing is imported: a user's subclass of a
    framework's layer (defined in ``__main__``) is found through its bases.
    """
    for cls in type(value).__mro__:
        found = _OWNER.get((cls.__module__ or "").partition(".")[0])
        if found is not None:
            return found
    return None
