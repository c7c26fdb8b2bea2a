"""VPT's item tasks: inventory tracking, per-item success rates, the ``vpt`` agent on the MineRL double."""
from __future__ import annotations

import pytest
import torch

import benchmarks.runner as runner
from benchmarks.agents import AgentContext, AgentOptions, AgentUnavailable, check_agent
from benchmarks.minerl_items import ITEMS, first_obtained, item_success, make_item_env
from benchmarks.suites import Suite
from tests.support.minerl_item_double import ScheduledFactory
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

ENV_ID = "vpt_gym/MineRLObtainDiamondShovel-v0"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_first_obtained_maps_minerl_names_to_vpt_items():
    seen = first_obtained({"oak_log": 1, "birch_planks": 0, "dirt": 3}, {}, step=4)
    assert seen == {"logs": 4}
    first_obtained({"birch_log": 2, "spruce_planks": 5, "crafting_table": 1}, seen, step=9)
    assert seen == {"logs": 4, "planks": 9, "crafting_table": 9}  # a log stays first obtained at step 4
    with pytest.raises(ValueError, match="'diamond'.*>= 0"):
        first_obtained({"diamond": -1}, {}, step=0)


def test_item_success_rates_and_errors():
    out = item_success([{"logs": 2, "planks": 10}, {"logs": 4}, None, {}])
    assert out["logs"] == {"success_rate": 0.5, "mean_first_step": 3.0}
    assert out["planks"] == {"success_rate": 0.25, "mean_first_step": 10.0}
    assert out["diamond"] == {"success_rate": 0.0, "mean_first_step": None}
    assert list(out) == list(ITEMS)
    with pytest.raises(ValueError, match="unknown item"):
        item_success([{"gold": 1}])
    with pytest.raises(ValueError, match="at least one episode"):
        item_success([])


def test_item_env_reports_items_at_episode_end():
    env = make_item_env(ENV_ID, size=32, max_episode_steps=5, minerl_factory=ScheduledFactory())
    obs, _ = env.reset(seed=0)
    assert obs.shape == (32, 32, 3)
    infos = []
    for _ in range(5):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        infos.append(info)
    assert truncated and not terminated
    assert all("episode_items" not in i for i in infos[:-1])
    assert infos[-1]["episode_items"] == (("logs", 2), ("planks", 4))


def _tiny_vpt(tmp_path):
    from agents.vpt.io import save_pretrained
    from agents.vpt.policy import VPTPolicyNet

    torch.manual_seed(0)
    save_pretrained(VPTPolicyNet("tiny"), tmp_path / "tiny-vpt")
    return str(tmp_path / "tiny-vpt")


def test_vpt_minerl_suite_on_the_double_gives_per_item_success(tmp_path):
    suite = Suite(name="m", description="", tasks=(ENV_ID,), agents=("random", "vpt"), episodes=2,
                  env_kwargs={"minerl": {"size": 32, "max_episode_steps": 6, "minerl_factory": ScheduledFactory()}},
                  env_maker="benchmarks.minerl_items:make_item_env")
    options = AgentOptions(vpt_model=_tiny_vpt(tmp_path))
    results = runner.run_suite(suite, tmp_path / "out", options=options, videos=False)
    for agent in ("random", "vpt"):
        cell = results.find_cell(ENV_ID, agent)
        assert cell["lengths"] == [6, 6]
        assert cell["items"] == [{"logs": 2, "planks": 4}] * 2
    assert results.find_cell(ENV_ID, "vpt")["agent_label"].startswith("vpt (")
    md = (tmp_path / "out" / "results.md").read_text()
    assert "## VPT item tasks" in md
    task = ENV_ID.split("/")[-1]  # the task's name in every table (it has no GenRL task id)
    assert f"| {task} | random | 2 | logs | 100.0 | 2 | – |" in md
    assert f"| {task} | random | 2 | iron_pickaxe | 0.0 | – | 79.59 |" in md
    assert (tmp_path / "out" / "plots" / "minerl_items.png").stat().st_size > 1000


def test_vpt_agent_offline_without_cache_is_skipped_with_the_loader_message(tmp_path, monkeypatch):
    monkeypatch.setenv("VPT_GYM_OFFLINE", "1")
    monkeypatch.setenv("VPT_GYM_CACHE", str(tmp_path / "empty-cache"))
    context = AgentContext(env_id=ENV_ID, options=AgentOptions(vpt_model="foundation-model-1x"))
    with pytest.raises(AgentUnavailable, match="foundation-model-1x.*offline.*Download these files"):
        check_agent("vpt", context)
    with pytest.raises(AgentUnavailable, match="neither a released VPT name"):
        check_agent("vpt", AgentContext(env_id=ENV_ID, options=AgentOptions(vpt_model=str(tmp_path / "nope"))))


def test_vpt_minerl_suite_without_minerl_is_skipped_with_install_help(tmp_path, capsys):
    pytest.importorskip("vpt_gym")
    try:
        import minerl  # noqa: F401
        pytest.skip("MineRL is installed here")
    except ImportError:
        pass
    from benchmarks.suites import get_suite

    runner.run_suite(get_suite("vpt-minerl"), tmp_path)
    assert 'pip install -e ".[minerl]"' in capsys.readouterr().out
    assert "**Skipped:**" in (tmp_path / "results.md").read_text()
