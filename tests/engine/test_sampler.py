"""How many loader workers a process starts (engine/sampler.usable_workers)."""

import pytest

from vidpose.engine.sampler import usable_workers


def test_usable_workers_caps_at_the_process_share_of_the_cpus() -> None:
    assert usable_workers(8, cpus=2, local_processes=1) == 2  # a recipe's 8 workers on a 2-core machine
    assert usable_workers(8, cpus=16, local_processes=8) == 2  # 8 GPU processes on a 16-core node
    assert usable_workers(8, cpus=4, local_processes=8) == 1  # never below one worker
    assert usable_workers(3, cpus=64, local_processes=1) == 3  # enough CPUs: as requested
    assert usable_workers(0, cpus=2, local_processes=1) == 0  # main-process loading stays as it is


def test_usable_workers_reads_the_node_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert usable_workers(8, cpus=8) == 2
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    assert usable_workers(8, cpus=8) == 8


def test_usable_workers_rejects_a_negative_count() -> None:
    with pytest.raises(ValueError, match="num_workers must be >= 0"):
        usable_workers(-1, cpus=2)
