"""Process group, ranks and devices: the same code runs on one CPU, one GPU or many under ``torchrun``.

Everything here falls back to a single process (rank 0, world 1) when no process group is initialised, so
callers never branch on "distributed or not". ``torchrun`` describes the group through the environment
variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them.

    >>> device = init_distributed("auto")  # cuda:LOCAL_RANK if CUDA is there, else cpu; joins any group
    >>> model = wrap_ddp(model.to(device), device)
    >>> if is_main_process(): ...
    >>> cleanup()  # after a barrier; cleanup(synchronize=False) when leaving on an error
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError
from ..state_dicts import unwrap

__all__ = [
    "init_distributed",
    "select_device",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "get_local_rank",
    "is_main_process",
    "barrier",
    "all_reduce_sum",
    "all_reduce_mean",
    "all_reduce_max",
    "broadcast_object",
    "all_gather_object",
    "unwrap",
    "wrap_ddp",
    "cleanup",
]

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} must be an integer") from None


def is_distributed() -> bool:
    """True when a process group is initialised (even a group of one process)."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """Global rank of this process; 0 when not distributed."""
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """Number of processes in the group; 1 when not distributed."""
    return dist.get_world_size() if is_distributed() else 1


def get_local_rank() -> int:
    """Rank of this process on its node (``LOCAL_RANK``, set by torchrun); 0 otherwise."""
    return _env_int("LOCAL_RANK", 0) if is_distributed() else 0


def is_main_process() -> bool:
    """True on rank 0: the only process that writes files and logs."""
    return get_rank() == 0


def select_device(
    name: str = "auto", local_rank: int | None = None, *, field: str = "train.device"
) -> torch.device:
    """Device from a config string.

    Args:
        name: "auto" (cuda if available, else cpu), "cpu", "cuda" (this process's GPU) or "cuda:<index>".
        local_rank: GPU index used for "auto" and "cuda"; None = ``LOCAL_RANK`` from the environment
            (0 if unset).
        field: where the string came from, for the error message ("train.device", "--device").

    Raises:
        ConfigError: CUDA asked for but not available, or an unknown device string.
    """
    if local_rank is None:
        local_rank = _env_int("LOCAL_RANK", 0)
    if not isinstance(name, str):
        name = str(name)
    name = name.strip()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            why = (
                "CUDA is not available: this torch build has no CUDA support (install a CUDA build of torch)"
                if torch.version.cuda is None
                else "CUDA is not available: no GPU is visible (or the driver is missing)"
            )
            raise ConfigError(f"{field}: {name!r} asked for, but {why}; use 'auto' or 'cpu'")
        if name == "cuda":
            return torch.device("cuda", local_rank)
        try:
            index = int(name.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"{field}: {name!r} is not a device (expected cuda:<index>)") from None
        if not 0 <= index < torch.cuda.device_count():
            raise ConfigError(f"{field}: {name!r}, but only {torch.cuda.device_count()} GPU(s) are visible")
        return torch.device("cuda", index)
    raise ConfigError(f"{field}: {name!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:<index>'")


def init_distributed(device: str = "auto") -> torch.device:
    """Pick the device and, when ``WORLD_SIZE > 1``, join the process group described by torchrun's variables.

    The backend is nccl on CUDA and gloo on CPU. Calling it again once the group exists only returns the
    device.

    Returns:
        the device of this process (``cuda:LOCAL_RANK`` or ``cpu``).

    Raises:
        ConfigError: a torchrun variable is missing or malformed, or the device string is invalid.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    local_rank = _env_int("LOCAL_RANK", 0)
    dev = select_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size <= 1 or is_distributed():
        return dev
    missing = [v for v in _TORCHRUN_VARS if not os.environ.get(v)]
    if missing:
        raise ConfigError(
            f"WORLD_SIZE={world_size} but environment variable(s) {', '.join(missing)} are not set "
            "(launch with torchrun, which sets them)"
        )
    backend = "nccl" if dev.type == "cuda" else "gloo"
    kwargs: dict[str, Any] = {"device_id": dev} if dev.type == "cuda" else {}
    dist.init_process_group(
        backend=backend, init_method="env://", rank=_env_int("RANK", 0), world_size=world_size, **kwargs
    )
    return dev


def cleanup(synchronize: bool = True) -> None:
    """Leave the process group (no-op when not distributed).

    With ``synchronize`` (the normal exit) every rank first meets at a barrier, so that no rank tears down its
    gloo connections while a peer is still using them (which aborts the peer at exit). Pass
    ``synchronize=False`` when leaving because of an error: a failed peer would never reach the barrier.
    """
    if is_distributed():
        if synchronize:
            barrier()
        dist.destroy_process_group()


def _device_ids() -> list[int] | None:
    if is_distributed() and dist.get_backend() == "nccl":
        return [torch.cuda.current_device()]
    return None


def barrier() -> None:
    """Wait for every process (no-op when not distributed)."""
    if get_world_size() > 1:
        dist.barrier(device_ids=_device_ids())


def _all_reduce(tensor: Tensor, op: dist.ReduceOp) -> Tensor:
    if get_world_size() > 1:
        dist.all_reduce(tensor, op=op)
    return tensor


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """In-place sum over processes; returns ``tensor`` (unchanged when not distributed)."""
    return _all_reduce(tensor, dist.ReduceOp.SUM)


def all_reduce_mean(tensor: Tensor) -> Tensor:
    """In-place mean over processes (float tensors); returns ``tensor``."""
    world = get_world_size()
    if world > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor.div_(world)
    return tensor


def all_reduce_max(tensor: Tensor) -> Tensor:
    """In-place maximum over processes; returns ``tensor``."""
    return _all_reduce(tensor, dist.ReduceOp.MAX)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every process (picklable objects)."""
    if get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every process (``[obj]`` when not distributed)."""
    world = get_world_size()
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out


def wrap_ddp(model: nn.Module, device: torch.device, find_unused_parameters: bool = False) -> nn.Module:
    """DistributedDataParallel around ``model`` (already on ``device``) when the world has several processes.

    Gradients are averaged over processes during ``backward``; use ``model.no_sync()`` on accumulation
    micro-steps.
    """
    if get_world_size() == 1:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(
        model, device_ids=device_ids, find_unused_parameters=find_unused_parameters
    )
