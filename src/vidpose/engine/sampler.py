"""Deterministic sharded sampling and per-epoch loaders that can start in the middle of an epoch.

The order of an epoch is a pure function of ``(seed, epoch)``; each process takes every ``world_size``-th
index of it, starting at its rank, so shards are disjoint. A loader can be built from any batch of an epoch
onwards, which is what an exact resume needs.

Data randomness is a pure function of the position too. A dataset with a ``set_epoch(epoch, rank)`` method
(:class:`vidpose.data.dataset.PoseTrackWindows`) owns its per-item randomness and is told the epoch and rank
before each epoch. For any other dataset, before a batch is fetched, Python's, NumPy's and torch's global
generators are seeded from ``(seed, epoch, rank, batch index)`` and restored afterwards. Either way the same
batch gets the same augmentation whatever the number of workers and wherever a run resumed, and fetching
in the main process (``num_workers = 0``) leaves the training RNG stream (dropout, masking) untouched.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from collections.abc import Callable, Iterator, Sized
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .distributed import _env_int, get_rank, get_world_size

__all__ = ["derive_seed", "ShardedSampler", "EpochLoader", "seeded_rng", "usable_workers"]


def derive_seed(*values: int) -> int:
    """A well-mixed 64-bit seed from integers (``(seed, epoch)`` and ``(seed + 1, epoch - 1)`` differ)."""
    return int(np.random.SeedSequence([int(v) & 0xFFFFFFFF for v in values]).generate_state(1, np.uint64)[0])


def usable_workers(requested: int, *, cpus: int | None = None, local_processes: int | None = None) -> int:
    """Loader worker processes worth starting: ``requested`` capped at this process's share of the CPUs.

    A recipe's ``data.num_workers`` is written for a GPU node (8 workers per GPU process); on a machine with
    fewer CPUs the extra workers only compete for the cores, and each one forks the dataset and prefetches
    batches before the first step. The share is the CPUs this process may run on (its affinity mask)
    divided by the processes on the node (``LOCAL_WORLD_SIZE``, set by torchrun), at least 1. The count
    changes no result: data randomness is a pure function of the position (module docstring).

    Args:
        requested: ``data.num_workers`` (0 = load in the main process, kept as is).
        cpus: CPUs available (None = ``len(os.sched_getaffinity(0))``, else ``os.cpu_count()``).
        local_processes: processes on this node (None = ``LOCAL_WORLD_SIZE`` or 1).
    """
    if requested < 0:
        raise ValueError(f"num_workers must be >= 0, got {requested}")
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if local_processes is None:
        local_processes = _env_int("LOCAL_WORLD_SIZE", 1)  # read as torchrun's LOCAL_RANK is
    return min(requested, max(1, cpus // max(1, local_processes)))


@contextlib.contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Seed Python's, NumPy's and torch's (CPU) global generators from ``seed``; restore them on exit."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    try:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)


class ShardedSampler(Sampler[int]):
    """Indices of one process's shard of one epoch, optionally from an offset inside it.

    Args:
        size: number of samples in the dataset, or the dataset itself.
        seed: shuffling seed; the order of epoch ``e`` depends only on ``(seed, e)``.
        shuffle: random order per epoch; False = ``0..n-1``.
        drop_last: drop the tail so that every shard has ``n // world`` samples; False pads by repeating the
            first indices so that every shard has ``ceil(n / world)``.
        rank, world_size: this process's shard; None = from the process group (0 / 1 when not distributed).
    """

    def __init__(
        self,
        size: int | Sized,
        *,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        self.num_items = size if isinstance(size, int) else len(size)
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rank = get_rank() if rank is None else rank
        self.world_size = get_world_size() if world_size is None else world_size
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is not in a world of {self.world_size} process(es)")
        if self.num_items < 0:
            raise ValueError(f"a dataset cannot have {self.num_items} samples")
        self.epoch = 0
        self.start = 0

    @property
    def shard_size(self) -> int:
        """Samples in this process's whole shard of an epoch (ignoring the start offset)."""
        if self.drop_last:
            return self.num_items // self.world_size
        return math.ceil(self.num_items / self.world_size)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch and the first position (0-based, inside this shard) that iteration yields."""
        if not 0 <= start <= self.shard_size:
            raise ValueError(f"start {start} is outside a shard of {self.shard_size} samples")
        self.epoch = epoch
        self.start = start

    def shard(self) -> list[int]:
        """This process's whole shard of the current epoch (``shard_size`` indices)."""
        n, world = self.num_items, self.world_size
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(derive_seed(self.seed, self.epoch))
            order = torch.randperm(n, generator=g).tolist()
        else:
            order = list(range(n))
        total = self.shard_size * world
        if total > n and n > 0:
            order = (order * math.ceil(total / n))[:total]
        else:
            order = order[:total]
        return order[self.rank : total : world]

    def __iter__(self) -> Iterator[int]:
        return iter(self.shard()[self.start :])

    def __len__(self) -> int:
        return self.shard_size - self.start


class _SeededBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of ``(index, batch_seed)`` pairs; the seed is a function of (seed, epoch, rank, batch)."""

    def __init__(self, sampler: ShardedSampler, batch_size: int, drop_last: bool, first_batch: int) -> None:
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.first_batch = first_batch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        s = self.sampler
        indices = list(s)
        for j, lo in enumerate(range(0, len(indices), self.batch_size)):
            chunk = indices[lo : lo + self.batch_size]
            if self.drop_last and len(chunk) < self.batch_size:
                return
            seed = derive_seed(s.seed, s.epoch, s.rank, self.first_batch + j)
            yield [(i, seed) for i in chunk]

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


class _SeededDataset(Dataset):
    """Fetches a batch of ``(index, seed)`` pairs with the global generators seeded from the batch seed."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __getitems__(self, items: list[tuple[int, int]]) -> list[Any]:
        with seeded_rng(items[0][1]):
            return [self.dataset[i] for i, _ in items]

    def __getitem__(self, item: tuple[int, int]) -> Any:
        return self.__getitems__([item])[0]

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]


class EpochLoader:
    """Builds the data loader of one epoch of one process, from any batch onwards.

    ``loader(epoch, start_batch)`` is an iterable of collated batches; ``len(loader)`` is the number of
    batches in a whole epoch. The :class:`~vidpose.engine.trainer.Trainer` accepts any object with this
    interface.

    Args:
        dataset: a map-style dataset (``__getitem__`` + ``__len__``).
        batch_size: samples per batch per process.
        seed: shuffling and augmentation seed.
        shuffle: shuffle every epoch.
        drop_last: drop incomplete shards and batches (training); False pads shards and keeps the last batch.
        num_workers: loader worker processes.
        collate_fn: None = torch's default collate.
        pin_memory: page-locked host memory (for CUDA training).
        seed_batches: seed the global generators per batch (see the module docstring); False leaves data
            randomness to the dataset.
        rank, world_size: None = from the process group.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        seed_batches: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.pin_memory = pin_memory
        self.seed_batches = seed_batches
        self.sampler = ShardedSampler(
            dataset,  # type: ignore[arg-type]
            seed=seed,
            shuffle=shuffle,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
        )

    def __len__(self) -> int:
        n = self.sampler.shard_size
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __call__(self, epoch: int, start_batch: int = 0) -> DataLoader:
        """The loader of ``epoch`` that yields batches ``start_batch, start_batch + 1, ...``."""
        if not 0 <= start_batch <= len(self):
            raise ValueError(f"start_batch {start_batch} is outside an epoch of {len(self)} batches")
        sampler = ShardedSampler(
            self.sampler.num_items,
            seed=self.sampler.seed,
            shuffle=self.sampler.shuffle,
            drop_last=self.drop_last,
            rank=self.sampler.rank,
            world_size=self.sampler.world_size,
        )
        sampler.set_epoch(epoch, start=min(start_batch * self.batch_size, sampler.shard_size))
        # Datasets that own their randomness (a pure function of seed, epoch, rank and index) are told the
        # epoch here, before the workers copy the dataset.
        set_epoch = getattr(self.dataset, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch, self.sampler.rank)
        # A private generator: creating the iterator must not consume the global RNG (dropout, masking).
        g = torch.Generator()
        g.manual_seed(derive_seed(self.sampler.seed, epoch, self.sampler.rank, start_batch, 1))
        common: dict[str, Any] = dict(
            num_workers=self.num_workers, pin_memory=self.pin_memory, generator=g, collate_fn=self.collate_fn
        )
        if self.seed_batches:
            batches = _SeededBatchSampler(sampler, self.batch_size, self.drop_last, start_batch)
            return DataLoader(_SeededDataset(self.dataset), batch_sampler=batches, **common)
        return DataLoader(
            self.dataset, batch_size=self.batch_size, sampler=sampler, drop_last=self.drop_last, **common
        )
