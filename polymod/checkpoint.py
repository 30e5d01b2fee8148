"""Training checkpoints: model, optimizer, scheduler, step and polymod's RNG in one file.

A checkpoint is a safetensors file written like ``pm.save`` (atomically and streamed:
one temporary file, fsync, rename), so a process killed while writing leaves the
previous checkpoint intact. Tensors: ``model/<name>`` (the neutral layout) and
``optimizer/<index>/<key>`` (torch.optim's numbering); everything else (the step,
the optimizer's hyperparameters and step counts, the scheduler's state, polymod's
random generator) is JSON in the header's metadata. It loads on any backend.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

import numpy as np

from . import random as _random
from . import registry
from .errors import UninitializedParameterError, WeightsFileError
from .io.atomic import write_file
from .io.format import checked_path, read_header, read_tensors
from .io.weights import FORMAT_VERSION
from .module import Module
from .module.state import load_into

CHECKPOINT_VERSION = "1"


def save_checkpoint(path: str | os.PathLike, net: Module, optimizer: Any = None,
                    scheduler: Any = None, step: int = 0) -> None:
    """Saves what a training run needs to continue exactly, in one atomic file.

    Args:
        path: the file to write (replaced atomically if it exists).
        net: the model (its parameters, buffers and constants).
        optimizer: a ``pm.optim`` optimizer, or None.
        scheduler: a ``pm.optim.lr_scheduler`` scheduler, or None.
        step: the training step (or any integer) to give back on loading.

    Raises:
        UninitializedParameterError: the model has lazy parameters.
        WeightsFileError: a bad path (``WeightsFileOSError`` when the system refuses), or
            the scheduler's state is not JSON data (a ``LambdaLR`` lambda object holding
            arrays, say).

    Example:
        >>> import os, tempfile, polymod as pm
        >>> net = pm.nn.Linear(3, 1).to("torch")
        >>> opt = pm.optim.AdamW(net, lr=1e-3)
        >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
        >>> pm.save_checkpoint(path, net, opt, step=100)
        >>> pm.load_checkpoint(path, net, opt)
        100
    """
    from .optim import state as _state

    tensors, model_names = [], []
    for kinds in (net.named_parameters(), net.named_buffers(), net.named_constants()):
        for name, handle in kinds:
            if not handle.materialized:
                raise UninitializedParameterError(
                    f"Cannot save a checkpoint of {type(net).__name__}: {name!r} is still "
                    f"lazy. Call the model once (net(X)) or net.initialize(X) first.")
            tensors.append((f"model/{name}", handle.dtype, handle.shape, handle.numpy))
            model_names.append(name)
    info: dict[str, Any] = {"step": int(step), "backend": net.backend, "model": model_names,
                            "rng": _random.generator().bit_generator.state}
    if optimizer is not None:
        groups, live = _state.layout(optimizer)
        handles = dict(net.named_parameters())
        counts = {}
        for index, (name, per_param) in live.items():
            handle = handles[name]
            for key, value in per_param.items():
                if key == "step":
                    counts[index] = int(value)
                    continue
                tensors.append((f"optimizer/{index}/{key}", handle.dtype, handle.shape,
                                lambda v=value, k=key: _state.to_numpy(v, k)))
        info["optimizer"] = {"type": type(optimizer).__name__, "param_groups": groups,
                             "steps": optimizer.steps, "step_counts": counts,
                             "keys": {i: sorted(s) for i, (_, s) in live.items()}}
    if scheduler is not None:
        info["scheduler"] = {"type": type(scheduler).__name__,
                             "state": scheduler.state_dict()}
    try:
        encoded = json.dumps(info)
    except (TypeError, ValueError) as err:
        raise WeightsFileError(f"Cannot save a checkpoint to {os.fspath(path)!r}: the "
                               f"scheduler's state is not JSON data ({err}).") from None
    write_file(path, [entry[:3] for entry in tensors], [entry[3] for entry in tensors],
               {"format": "polymod", "format_version": FORMAT_VERSION,
                "layout": registry.NEUTRAL_LAYOUT, "kind": "checkpoint",
                "checkpoint_version": CHECKPOINT_VERSION, "checkpoint": encoded})


def load_checkpoint(path: str | os.PathLike, net: Module, optimizer: Any = None,
                    scheduler: Any = None) -> int:
    """Restores a checkpoint written by ``save_checkpoint``; returns its ``step``.

    Everything is checked before anything changes (the file, the model's names and
    shapes, the optimizer's and scheduler's types and states); on any problem the
    model, optimizer, scheduler and random generator are left as they were. The model
    may be on another backend than the one that saved it, unbound, or lazy (shapes
    come from the file). Create the scheduler before loading, as in PyTorch: its
    constructor sets the learning rates, and loading restores them.

    Raises:
        WeightsFileError: not a checkpoint, or the model does not fit it.
        StateError, ShapeError, ValueError: the optimizer or scheduler does not fit it
            (as their ``load_state_dict`` raise).
    """
    path = checked_path(path, "read checkpoint")
    header = read_header(path)
    info = _checkpoint_info(path)
    model_names = [f"model/{n}" for n in info["model"]]
    _check_model(path, header, info["model"], net)
    plan = None
    if optimizer is not None:
        plan = _optimizer_plan(path, header, info, optimizer)
    if scheduler is not None:
        saved = info.get("scheduler")
        if saved is None or saved["type"] != type(scheduler).__name__:
            raise WeightsFileError(f"Checkpoint {path!r} holds "
                                   f"{'no scheduler' if saved is None else saved['type']}; "
                                   f"received a {type(scheduler).__name__}.")
        scheduler._checked(saved["state"])
    model = read_tensors(path, header, model_names)
    load_into(net, {n[len("model/"):]: a for n, a in model.items()}, True, source=path)
    del model
    if plan is not None:
        optimizer._apply_load(plan)
        optimizer.steps = int(info["optimizer"]["steps"])
    if scheduler is not None:
        scheduler.load_state_dict(info["scheduler"]["state"])
    _random.generator().bit_generator.state = info["rng"]
    return int(info["step"])


def _check_model(path: str, header: dict, names: list[str], net: Module) -> None:
    """Names and known shapes of the model against the file, before anything is read
    (``check_and_assign`` checks it all again, with dtypes, before assigning)."""
    handles = {n: h for kind in (net.named_parameters(), net.named_buffers(),
                                 net.named_constants()) for n, h in kind}
    problems = [f"missing {n!r}" for n in handles if n not in names]
    problems += [f"unexpected {n!r}" for n in names if n not in handles]
    for name in names:
        if f"model/{name}" not in header:
            problems.append(f"{name!r} is listed but not in the file")
        elif name in handles and handles[name].materialized and (
                handles[name].shape != header[f"model/{name}"][1]):
            problems.append(f"{name!r}: shape {header[f'model/{name}'][1]} in the file, the "
                            f"model has {handles[name].shape}")
    if problems:
        raise WeightsFileError(f"Cannot load checkpoint {path!r} into {type(net).__name__} "
                               f"(nothing was changed):\n  - " + "\n  - ".join(problems))


def _checkpoint_info(path: str) -> dict[str, Any]:
    """The checkpoint's JSON (the header was validated by ``read_header`` already)."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        metadata = json.loads(f.read(length)).get("__metadata__", {})
    if metadata.get("kind") != "checkpoint":
        raise WeightsFileError(f"{path!r} is not a checkpoint (no pm.save_checkpoint "
                               f"metadata); for a weights file use pm.load(net, path).")
    if metadata.get("checkpoint_version") != CHECKPOINT_VERSION:
        raise WeightsFileError(f"Checkpoint {path!r} has version "
                               f"{metadata.get('checkpoint_version')!r}; this polymod reads "
                               f"version {CHECKPOINT_VERSION!r}.")
    return json.loads(metadata["checkpoint"])


def _optimizer_plan(path: str, header: dict, info: dict, optimizer: Any) -> tuple:
    saved = info.get("optimizer")
    if saved is None or saved["type"] != type(optimizer).__name__:
        raise WeightsFileError(f"Checkpoint {path!r} holds "
                               f"{'no optimizer' if saved is None else saved['type']}; "
                               f"received a {type(optimizer).__name__}.")
    names = [f"optimizer/{i}/{k}" for i, keys in saved["keys"].items() for k in keys
             if k != "step"]
    arrays = read_tensors(path, header, names)
    state: dict[int, dict[str, Any]] = {}
    for index, keys in saved["keys"].items():
        per_param = state[int(index)] = {}
        for key in keys:
            per_param[key] = (np.float32(saved["step_counts"][index]) if key == "step"
                              else arrays.pop(f"optimizer/{index}/{key}"))
    shapes = {n: header[f"model/{n}"][1] for n in info["model"]}
    return optimizer._plan_load({"state": state, "param_groups": saved["param_groups"]},
                                shapes, owned=True)
