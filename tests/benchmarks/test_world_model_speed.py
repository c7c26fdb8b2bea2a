"""The world-model speed benchmark's interleaved mode, at a seconds-long size (plumbing, not the figure)."""
from __future__ import annotations

import pytest

import benchmarks.world_model_speed as wms


class _ListQueue(list):
    put = list.append


def test_interleaved_timing_in_process():
    queue = _ListQueue()
    wms._time_interleaved("small", 2, 4, 2, 1, queue)
    (result,) = queue
    assert set(result) == {"baseline", "ours"} and all(v > 0 for v in result.values())


@pytest.mark.slow
def test_interleaved_rows_and_ratio():
    rows = wms.measure_interleaved(configs=("small",), batch=2, length=4, steps=2, threads=1)
    assert [r["impl"] for r in rows] == ["baseline", "ours"]
    base, ours = rows
    assert all(r["config"] == "small" and r["batch"] == "2x4" and r["s_per_step"] > 0 for r in rows)
    assert base["vs_baseline"] == 1.0
    assert ours["vs_baseline"] == pytest.approx(base["s_per_step"] / ours["s_per_step"])
    assert ours["vs_spec_reference"] is None  # the spec's reference time is for 16 x 64 only
