"""The InternVideo2 speed benchmark runs (tiny config) and reports what it says; no timing is asserted."""
from __future__ import annotations

import json
import math

from benchmarks.internvideo2_speed import main, measure


def test_tiny_run_reports_both_dtypes(tmp_path, capsys):
    rows = measure("tiny", clips=1, prompts=2, progress=False)
    assert [r["dtype"] for r in rows] == ["float32", "bfloat16"]
    for r in rows:
        assert r["clips_per_s"] > 0 and math.isclose(r["clips_per_s"] * r["s_per_clip"], 1.0)
        assert r["prompts_per_s"] > 0
    assert math.isclose(rows[1]["weights_GB"], rows[0]["weights_GB"] / 2)  # bf16 halves the weights
    assert main(["--config", "tiny", "--dtypes", "float32", "--json", str(tmp_path / "r.json")]) == 0
    assert "clips_per_s" in capsys.readouterr().out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["rows"][0]["config"] == "tiny" and "cpu_count" in data["machine"]


def test_full_config_parameter_count_without_allocating():
    import torch

    from agents.genrl.vlm.internvideo2_model import InternVideo2Config, TextTower, VisionTower

    with torch.device("meta"):
        n = sum(p.numel() for m in (VisionTower(InternVideo2Config()), TextTower(InternVideo2Config()))
                for p in m.parameters())
    assert n == 1_292_738_304  # what the benchmark's docstring calls 1.29 B parameters (5.2 GB in fp32)
