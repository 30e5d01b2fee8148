"""``Embedding``: a lookup table of vectors, indexed by integer ids (PyTorch's names)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import init as _init
from ..errors import BackendTypeError, ShapeError
from ..handles import Parameter
from ..module import Module


class Embedding(Module):
    """Maps integer indices to rows of ``weight`` (shape ``(num_embeddings, embedding_dim)``).

    The weight starts as N(0, 1), as in PyTorch, drawn from polymod's seeded generator.
    Input is an integer tensor of any shape; the output has one more axis, of size
    ``embedding_dim``. With ``padding_idx``, that row starts at zero and receives no
    gradient (PyTorch's behaviour) on every backend.

    Args:
        num_embeddings: size of the table.
        embedding_dim: size of each vector.
        padding_idx: an index whose row is zero at the start and is not trained.

    Example:
        >>> import numpy as np, polymod as pm
        >>> emb = pm.nn.Embedding(10, 3)
        >>> emb(np.array([[1, 2, 4], [4, 3, 9]])).shape
        (2, 3, 3)
    """

    accepts_integer_input = True

    dtype_argument = True  # __init__ takes dtype= (Module.__init_subclass__)

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Any = None, _freeze: bool = False):
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings),
                            ("embedding_dim", embedding_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative int; received {name}={value!r}.")
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise ValueError("polymod's Embedding does not support max_norm, scale_grad_by_freq "
                             "or sparse (PyTorch-only options); leave them at their defaults.")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx must be within num_embeddings "
                                 f"({num_embeddings}); received padding_idx={padding_idx}.")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        if _weight is None:
            data = _init.Normal(1.0)((num_embeddings, embedding_dim)).astype(np.float32)
            if padding_idx is not None:
                data[padding_idx] = 0.0
        else:
            data = _weight
        self.weight = Parameter(data, trainable=not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True,
                        padding_idx: int | None = None) -> Embedding:
        """An ``Embedding`` holding ``embeddings`` (2-D; any backend's tensor or NumPy data).

        Example:
            >>> import polymod as pm
            >>> emb = pm.nn.Embedding.from_pretrained([[0.0, 1.0], [2.0, 3.0]])
            >>> emb.weight.shape, next(emb.parameters()).trainable
            ((2, 2), False)
        """
        handle = Parameter(embeddings)
        if len(handle.shape) != 2:
            raise ShapeError(f"Embedding.from_pretrained expects a 2-D table; received shape "
                             f"{handle.shape}.")
        rows, dim = handle.shape
        return cls(rows, dim, padding_idx=padding_idx, _weight=handle.numpy(), _freeze=freeze)

    def bound_functions(self, adapter: Any) -> dict[str, Any]:
        return {"embedding": adapter.embedding}

    def forward(self, indices: Any) -> Any:
        return self._bound.embedding(indices, self.weight, self.padding_idx)

    def check_input(self, indices: Any, *rest: Any) -> BackendTypeError | None:
        from .. import registry

        dtype = registry.adapter_of(indices).dtype_of(indices)
        if dtype.kind not in "iu":
            return BackendTypeError(f"Embedding expects integer indices; received a tensor of dtype "
                              f"{dtype}. Convert it with ops.astype(x, 'int64').")
        return None

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None
                       else "")
