"""Data-parallel training over several processes started by `torchrun` (or `accelerate launch`).

A process started by `torchrun --nproc_per_node N ...` finds WORLD_SIZE, RANK and LOCAL_RANK (and the
rendezvous address) in its environment; `setup` joins the process group then, over gloo on a CPU and
NCCL on GPUs (each process on the GPU of its local rank). Without those variables there is one
process and every function here does what one process would: nothing to share.

The trainers use the same four moves as DistributedDataParallel: every process starts from rank 0's
parameters (`broadcast_parameters`), takes its share of each global batch, and before each optimiser
step the gradients are summed across processes (`sum_gradients`, each process having scaled its loss
by its share of the global batch), so every process takes the same step as one process on the whole
global batch would; only rank 0 writes files. DDP's module wrapper is not used because the reward
model's training step does not go through a module's forward (it runs the top layers on cached states);
the collective calls are the same.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any, Iterable, Sequence, TypeVar

from rrr_cli.errors import RrrError

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The process that logs and writes files (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world() -> World:
    """Read from torchrun's environment variables; one process when they are absent."""
    values = {}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        raw = os.environ.get(name)
        try:
            values[name] = int(raw) if raw not in (None, "") else None
        except ValueError:
            raise RrrError(f"{name}={raw!r} is not a number (torchrun sets it)") from None
    size = values["WORLD_SIZE"] or 1
    rank = values["RANK"] if values["RANK"] is not None else 0
    local = values["LOCAL_RANK"] if values["LOCAL_RANK"] is not None else rank
    if size < 1 or not 0 <= rank < size or local < 0:
        raise RrrError(f"RANK {rank} / WORLD_SIZE {size} / LOCAL_RANK {local} do not describe a process group")
    return World(rank=rank, size=size, local_rank=local)


def setup() -> World:
    """Join the process group when started by torchrun (once per process); this process's World."""
    place = world()
    if not place.distributed:
        return place
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(place.local_rank)
            backend = "nccl"
        else:
            backend = "gloo"
        # Imported first after joining (transformers imports it while loading a model), this module would
        # bind the group as ten functions' default arguments and hold it past `teardown`: the group's
        # threads then outlive it (see there). Imported before, the defaults are None.
        import torch.distributed.nn.functional  # noqa: F401
        try:
            dist.init_process_group(backend=backend)
        except (RuntimeError, ValueError) as exc:
            raise RrrError(f"cannot join the torch.distributed process group ({backend}): "
                           f"{str(exc).splitlines()[0]}") from None
        atexit.register(teardown)
    return place


def teardown() -> None:
    """Leave the process group (registered at exit by `setup`), which stops and joins its threads once
    nothing else holds the group. A process that exits with them still running can abort as the
    interpreter shuts down: a gloo thread releasing the last collective's tensors needs the interpreter
    that is going away ("terminate called without an active exception"), failing a run that had finished."""
    dist = _dist()
    if dist is not None:
        dist.destroy_process_group()


def device(place: World, requested: str | None) -> str | None:
    """The device for this process: as requested, else under torchrun with GPUs its local rank's GPU."""
    if requested is not None or not place.distributed:
        return requested
    import torch

    return f"cuda:{place.local_rank}" if torch.cuda.is_available() else "cpu"


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def shard(items: Sequence[T], place: World) -> list[T]:
    """This process's share: every `size`-th item from its rank on (shares differ in length by one at most)."""
    return list(items[place.rank::place.size])


def all_gather(value: T) -> list[T]:
    """Every process's `value`, in rank order (picklable values; tensors are moved to the CPU first)."""
    dist = _dist()
    if dist is None:
        return [value]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def broadcast(value: T) -> T:
    """Rank 0's `value`, on every process."""
    dist = _dist()
    if dist is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_floats(values: Sequence[float]) -> list[float]:
    """Element-wise sums over the processes (metrics counted per process)."""
    dist = _dist()
    if dist is None:
        return [float(v) for v in values]
    import torch

    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def broadcast_parameters(parameters: Iterable[Any]) -> None:
    """Every process takes rank 0's values of `parameters` (what DDP does when it wraps a module)."""
    dist = _dist()
    if dist is None:
        return
    import torch

    with torch.no_grad():
        for parameter in parameters:
            dist.broadcast(parameter.data, src=0)


def sum_gradients(parameters: Iterable[Any]) -> None:
    """Sum each parameter's gradient over the processes (a missing gradient counts as zero), so that
    losses each scaled by its process's share of the global batch give the global batch's gradient."""
    dist = _dist()
    if dist is None:
        return
    import torch

    for parameter in parameters:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
        dist.all_reduce(parameter.grad)


def barrier() -> None:
    dist = _dist()
    if dist is not None:
        dist.barrier()


def _collective_device() -> str:
    import torch

    dist = _dist()
    if dist is not None and dist.get_backend() == "nccl":
        return f"cuda:{torch.cuda.current_device()}"
    return "cpu"
