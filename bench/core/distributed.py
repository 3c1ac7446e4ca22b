"""The processes of one run started by ``accelerate launch`` (or torchrun): which one this is, and the few
collectives the engine and the trainer need. Outside such a launch every function is the one-process
identity, and nothing of accelerate or ``torch.distributed`` is touched.

Process groups come from accelerate's ``PartialState`` (NCCL on GPUs, gloo on CPUs), so the same code
runs under DDP-style launches on one machine or many.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

T = TypeVar("T")


def launched() -> bool:
    """True inside a multi-process launch (the launcher sets ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@dataclass(frozen=True)
class Ranks:
    """This process's place among the run's processes."""

    index: int = 0
    count: int = 1
    local_index: int = 0

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def share(self, items: Sequence[T]) -> list[T]:
        """This process's share of ``items``: every ``count``-th, starting at its index (so a sorted list
        gives every process items of similar cost)."""
        return list(items[self.index :: self.count])


@lru_cache(maxsize=1)
def ranks() -> Ranks:
    """The current process's ranks; initialises the process group on first use inside a launch."""
    if not launched():
        return Ranks()
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    return Ranks(state.process_index, state.num_processes, state.local_process_index)


def is_main_process() -> bool:
    return ranks().is_main


def device_of_this_process(device: str) -> str:
    """``cuda`` becomes this process's own GPU inside a launch (``cuda:<local rank>``)."""
    if device == "cuda" and launched():
        return f"cuda:{ranks().local_index}"
    return device


def gather_objects(value: T) -> list[T]:
    """Every process's ``value`` (picklable), in process order; ``[value]`` outside a launch."""
    if ranks().count == 1:
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * ranks().count
    dist.all_gather_object(out, value)
    return out


def sum_across_processes(values: dict[str, float]) -> dict[str, float]:
    """The sum over processes of each number (every process must pass the same keys)."""
    if ranks().count == 1:
        return dict(values)
    totals: dict[str, float] = {}
    for part in gather_objects(values):
        for name, value in part.items():
            totals[name] = totals.get(name, 0.0) + value
    return totals


def sum_gradients(parameters: Iterable[Any]) -> None:
    """Replace each parameter's gradient by its sum over processes (one flat all-reduce): with every
    process's loss divided by the global batch size, the result is the one-process gradient."""
    if ranks().count == 1:
        return
    import torch
    import torch.distributed as dist

    params = list(parameters)
    for p in params:  # a process whose share of the step was empty has no gradients yet
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    if not params:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n


def wait_for_all() -> None:
    """A barrier (e.g. after the main process saved a file the others read)."""
    if ranks().count == 1:
        return
    import torch.distributed as dist

    dist.barrier()


def main_process_first(work: Callable[[], T]) -> T:
    """``work()`` in the main process, then in the others (e.g. a model conversion the others then find
    done); one call outside a launch."""
    if ranks().count == 1:
        return work()
    if not ranks().is_main:
        wait_for_all()
    result = work()
    if ranks().is_main:
        wait_for_all()
    return result


def decided_by_main(decide: Callable[[], T]) -> T:
    """``decide()`` in the main process alone, its answer in every process: for decisions that read
    files another run may change meanwhile (is a result stored? is an adapter complete?), so that all
    processes take the same branch and meet at the same collectives."""
    if ranks().count == 1:
        return decide()
    return gather_objects(decide() if ranks().is_main else None)[0]
