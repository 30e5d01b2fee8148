"""Parameter groups: checking their hyperparameters and finding their parameters by name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import StateError

# hyperparameter -> (check, what it must be); torch.optim refuses the same values
_RULES = {
    "lr": (lambda v: v >= 0, ">= 0"),
    "momentum": (lambda v: v >= 0, ">= 0"),
    "dampening": (lambda v: True, "a number"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "eps": (lambda v: v >= 0, ">= 0"),
    "alpha": (lambda v: v >= 0, ">= 0"),
}
_FLAGS = ("nesterov", "amsgrad", "centered", "decoupled_weight_decay")


def validate_group(optimizer: str, index: int, group: dict[str, Any]) -> None:
    """Refuses hyperparameters torch.optim refuses, naming the group and the value.

    Numbers are stored as Python floats and ``betas`` as a tuple, so a group read back
    from a checkpoint (JSON) equals the original.
    """
    where = f"{optimizer} param_groups[{index}]" if index else optimizer
    for key, value in group.items():
        if key in _RULES:
            check, expected = _RULES[key]
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: {key} must be a number; received {key}="
                                 f"{value!r}.") from None
            if not check(number):
                raise ValueError(f"{key} must be {expected}; received {key}={value} "
                                 f"({where}).")
            group[key] = number
        elif key == "betas":
            try:
                beta1, beta2 = (float(b) for b in value)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: betas must be two numbers; received "
                                 f"betas={value!r}.") from None
            for i, beta in enumerate((beta1, beta2)):
                if not 0.0 <= beta < 1.0:
                    raise ValueError(f"betas[{i}] must be in [0, 1); received betas={value} "
                                     f"({where}).")
            group[key] = (beta1, beta2)
        elif key in _FLAGS:
            if not isinstance(value, (bool, int)):
                raise ValueError(f"{where}: {key} must be True or False; received "
                                 f"{key}={value!r}.")
            group[key] = bool(value)


def resolve_groups(groups: list[dict[str, Any]], fixed: list[list[str] | None],
                   names_in_model: Iterable[str], net: Any) -> list[list[str]]:
    """The parameter names of each group now: the fixed lists, and for the group
    without a list every parameter of the model that no other group names (its
    ``params`` entry is refreshed, so ``param_groups`` shows it).

    Raises:
        StateError: a named parameter is no longer in the model.
    """
    names_in_model = list(names_in_model)
    if None not in fixed:
        present = set(names_in_model)
        for index, names in enumerate(fixed):
            missing = [n for n in names if n not in present]  # type: ignore[union-attr]
            if missing:
                raise StateError(f"param_groups[{index}] names {missing}, which "
                                 f"{type(net).__name__} no longer has; its parameters are "
                                 f"{sorted(present)}.")
        return fixed  # type: ignore[return-value]
    named = {n for names in fixed if names is not None for n in names}
    rest = [n for n in names_in_model if n not in named]
    resolved = []
    for group, names in zip(groups, fixed, strict=True):
        if names is None:
            group["params"] = rest
            names = rest
        resolved.append(names)
    if len(named) + len(rest) != len(names_in_model):
        present = set(names_in_model)
        missing = sorted(named - present)
        raise StateError(f"param_groups name {missing}, which {type(net).__name__} no "
                         f"longer has; its parameters are {sorted(present)}.")
    return resolved
