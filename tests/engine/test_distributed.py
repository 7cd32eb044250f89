"""Single-process fallbacks, sharded sampling, per-epoch loaders and a 2-process CPU DDP run (gloo)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from vidpose.config import TrainConfig
from vidpose.engine import (
    EpochLoader,
    JSONLinesLogger,
    LRScheduler,
    PeriodicCheckpointer,
    ShardedSampler,
    Trainer,
    all_gather_object,
    all_reduce_max,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    broadcast_object,
    build_optimizer,
    cleanup,
    get_local_rank,
    get_rank,
    get_world_size,
    init_distributed,
    is_distributed,
    is_main_process,
    seed_everything,
    select_device,
    unwrap,
)
from vidpose.engine.checkpoint import Checkpointer
from vidpose.errors import ConfigError


class NoisyData(Dataset):
    """x + augmentation noise from the global torch RNG; y = linear function of the clean x."""

    def __init__(self, n: int = 48) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 8, generator=g)
        self.y = self.x @ torch.randn(8, 2, generator=g) * 0.5

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i] + 0.05 * torch.randn(8), self.y[i], torch.tensor(i)


# --------------------------------------------------------------------------------------------- fallbacks
def test_single_process_fallbacks(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not is_distributed()
    assert (get_rank(), get_world_size(), get_local_rank(), is_main_process()) == (0, 1, 0, True)
    barrier()
    t = torch.tensor([2.0, 4.0])
    assert all_reduce_sum(t) is t and all_reduce_mean(t).tolist() == [2.0, 4.0] and all_reduce_max(t) is t
    assert broadcast_object({"a": 1}) == {"a": 1} and all_gather_object(3) == [3]
    model = nn.Linear(2, 2)
    assert unwrap(model) is model and unwrap(nn.DataParallel(model)) is model
    assert init_distributed("cpu") == torch.device("cpu") and not is_distributed()
    cleanup()


def test_device_selection(monkeypatch):
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="not one of"):
        select_device("tpu")
    if torch.cuda.is_available():  # pragma: no cover - CPU CI
        assert select_device("auto", local_rank=0) == torch.device("cuda", 0)
    else:
        assert select_device("auto") == torch.device("cpu")
        with pytest.raises(ConfigError, match="CUDA is not available"):
            select_device("cuda")


def test_missing_torchrun_variables_are_named(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(ConfigError, match="MASTER_ADDR, MASTER_PORT are not set"):
        init_distributed("cpu")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ConfigError, match="WORLD_SIZE='two' must be an integer"):
        init_distributed("cpu")


def test_cleanup_meets_at_a_barrier_only_on_a_normal_exit(monkeypatch):
    import vidpose.engine.distributed as distributed

    calls: list[str] = []
    monkeypatch.setattr(distributed, "is_distributed", lambda: True)
    monkeypatch.setattr(distributed, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(distributed.dist, "destroy_process_group", lambda: calls.append("destroy"))
    cleanup()
    assert calls == ["barrier", "destroy"]  # no rank closes its connections while a peer still uses them
    calls.clear()
    cleanup(synchronize=False)
    assert calls == ["destroy"]  # leaving on an error: a failed peer would never reach the barrier


# --------------------------------------------------------------------------------------------- sampler
@pytest.mark.parametrize("n, world, drop_last", [(20, 4, True), (23, 4, True), (23, 4, False), (5, 3, False)])
def test_shards_are_disjoint_and_cover_the_dataset(n, world, drop_last):
    shards = [ShardedSampler(n, seed=3, rank=r, world_size=world, drop_last=drop_last) for r in range(world)]
    for s in shards:
        s.set_epoch(2)
    lists = [list(s) for s in shards]
    sizes = {len(x) for x in lists}
    assert sizes == {n // world if drop_last else -(-n // world)} and {len(s) for s in shards} == sizes
    union = [i for x in lists for i in x]
    if drop_last:
        assert len(set(union)) == len(union) == world * (n // world)  # disjoint, only the tail dropped
    else:
        assert set(union) == set(range(n))  # covers everything
        assert len(union) - len(set(union)) == world * sizes.pop() - n  # repeats only the padding


def test_order_depends_on_seed_and_epoch_only():
    def order(seed, epoch, shuffle=True):
        s = ShardedSampler(30, seed=seed, shuffle=shuffle, rank=0, world_size=1)
        s.set_epoch(epoch)
        return list(s)

    assert order(0, 1) == order(0, 1)
    assert order(0, 1) != order(0, 2) and order(0, 1) != order(1, 1) and order(0, 1) != order(1, 0)
    assert sorted(order(0, 1)) == list(range(30)) and order(0, 1, shuffle=False) == list(range(30))


def test_offset_yields_the_tail_of_the_epoch():
    s = ShardedSampler(50, seed=1, rank=1, world_size=2)
    s.set_epoch(4)
    full = list(s)
    s.set_epoch(4, start=17)
    assert list(s) == full[17:] and len(s) == 25 - 17
    with pytest.raises(ValueError, match="outside a shard"):
        s.set_epoch(4, start=26)


def test_epoch_loader_resumes_mid_epoch_with_identical_batches():
    loader = EpochLoader(NoisyData(), batch_size=5, seed=7, rank=0, world_size=1)
    assert len(loader) == 9
    full = list(loader(epoch=1))
    tail = list(loader(epoch=1, start_batch=4))
    assert len(full) == 9 and len(tail) == 5
    for a, b in zip(full[4:], tail, strict=True):  # same samples and the same augmentation noise
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    state = torch.get_rng_state()
    list(loader(epoch=0))
    assert torch.equal(torch.get_rng_state(), state)  # loading never consumes the training RNG stream


def test_epoch_loader_augmentation_does_not_depend_on_workers():
    data = NoisyData(24)
    serial = list(EpochLoader(data, 4, seed=2, rank=0, world_size=1)(epoch=0, start_batch=1))
    workers = list(EpochLoader(data, 4, seed=2, num_workers=2, rank=0, world_size=1)(epoch=0, start_batch=1))
    assert len(serial) == len(workers) == 5
    for a, b in zip(serial, workers, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------------------------- DDP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_step(model, batch):
    x, y, _ = batch
    return {"mse": F.mse_loss(model(x), y)}


def _ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    device = init_distributed("cpu")
    try:
        assert device == torch.device("cpu") and is_distributed() and get_world_size() == world
        assert get_rank() == rank and is_main_process() == (rank == 0)
        seed_everything(
            100 + rank
        )  # different initial weights and dropout per rank: DDP must align the weights
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 2))
        cfg = TrainConfig(
            out_dir=out_dir, epochs=10, max_steps=24, batch_size=4, accum_steps=2, lr=3e-2, warmup_steps=2,
            schedule="cosine", device="cpu", log_every=6, seed=0,
        )  # fmt: skip
        seen: list[int] = []

        def step_fn(m, batch):
            seen.extend(batch[2].tolist())
            return _ddp_step(m, batch)

        hooks = [LRScheduler(cfg), PeriodicCheckpointer(5), JSONLinesLogger()]
        trainer = Trainer(model, NoisyData(), build_optimizer(model, cfg), step_fn, cfg, hooks=hooks)
        assert trainer.steps_per_epoch == 3  # 48 samples / 2 ranks / (4 x 2 accumulated) per step
        trainer.train()

        t = torch.tensor([float(rank + 1)])
        helpers = {
            "sum": all_reduce_sum(t.clone()).item(),
            "mean": all_reduce_mean(t.clone()).item(),
            "max": all_reduce_max(t.clone()).item(),
            "bcast": broadcast_object(f"from {rank}"),
            "gather": all_gather_object(rank),
        }
        barrier()
        torch.save(
            {"params": unwrap(trainer.model).state_dict(), "seen_epoch0": seen[:24], "helpers": helpers},
            Path(out_dir) / f"rank{rank}.pt",
        )
    except BaseException:
        cleanup(synchronize=False)
        raise
    cleanup()  # meets the other rank at a barrier first: neither closes its connections under the other


def test_two_process_ddp_on_cpu(tmp_path):
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2))
    for k, v in r0["params"].items():
        assert torch.equal(v, r1["params"][k]), k  # identical parameters on both ranks
    assert set(r0["seen_epoch0"]).isdisjoint(r1["seen_epoch0"])  # each rank saw its own half of epoch 0
    assert sorted(r0["seen_epoch0"] + r1["seen_epoch0"]) == list(range(48))
    assert r0["helpers"] == {"sum": 3.0, "mean": 1.5, "max": 2.0, "bcast": "from 0", "gather": [0, 1]}
    assert r1["helpers"]["bcast"] == "from 0"

    last = Checkpointer(tmp_path).load("last")  # written by rank 0 only, from the unwrapped model
    assert last["step"] == 24 and last["world_size"] == 2 and len(last["rng"]) == 2
    assert set(last["model"]) == set(r0["params"]) and not any(k.startswith("module.") for k in last["model"])
    assert all(torch.equal(last["model"][k], v) for k, v in r0["params"].items())
    records = [json.loads(ln) for ln in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [
        3,
        6,
        9,
        12,
        15,
        18,
        21,
        24,
    ]  # one line per record: only rank 0 writes
    assert records[-1]["loss"] < 0.2 * records[0]["loss"], [r["loss"] for r in records]  # 3.94 -> 0.43
    assert not list(tmp_path.glob(".*.tmp"))
