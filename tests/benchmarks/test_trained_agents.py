"""The trained benchmark agents: clear skips without checkpoints/VLMs, the vlm-ppo learning curve on the GT
reward, the genrl behaviour learned per task and cached, the learning-curve report, the CLI parsing."""
from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import benchmarks.runner as runner
from benchmarks.agents import AgentContext, AgentOptions, AgentUnavailable, check_agent, make_agent
from benchmarks.cli import parse_checkpoints, parse_settings
from benchmarks.learning_curves import curve_summary, running_mean
from benchmarks.suites import Suite
from tests.support.constant_pixel_env import register
from tests.support.fake_vlm import FakeVLM
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture


pytestmark = pytest.mark.usefixtures("one_torch_thread")


WALKER = "vpt_gym/walker-stand-v0"


def test_trained_agents_without_checkpoint_or_vlm_are_skipped_with_what_to_pass(tmp_path, capsys):
    suite = Suite(name="g", description="", tasks=(WALKER, "vpt_gym/cheetah-run-v0"), agents=("genrl", "vlm-ppo"))
    results = runner.run_suite(suite, tmp_path, videos=False)
    assert results.cells == {} and results.nothing_evaluated()
    assert "--genrl-checkpoint walker=PATH" in results.find_skipped(WALKER, "genrl")
    assert "--genrl-checkpoint cheetah=PATH" in results.find_skipped("vpt_gym/cheetah-run-v0", "genrl")
    vlm_ppo = results.find_skipped(WALKER, "vlm-ppo")
    assert "--vlm NAME_OR_DIR" in vlm_ppo and 'pip install -e ".[vlm]"' in vlm_ppo
    out = capsys.readouterr().out
    assert out.count("skipped vlm-ppo") == 1  # one message per reason, not per task
    md = (tmp_path / "results.md").read_text()
    assert "## Skipped" in md and "--genrl-checkpoint walker=PATH" in md


def test_stand_in_vlm_without_text_tower_and_missing_weights_are_refused(tmp_path):
    options = AgentOptions(vlm="random-features", genrl_checkpoints={"walker": str(tmp_path / "missing.pt")})
    with pytest.raises(AgentUnavailable, match="no text tower.*random-features"):
        check_agent("vlm-ppo", AgentContext(env_id=WALKER, options=options))
    with pytest.raises(AgentUnavailable, match="does not exist.*missing.pt"):
        check_agent("genrl", AgentContext(env_id=WALKER, options=options))
    with pytest.raises(AgentUnavailable, match="has no weights here"):
        check_agent("vlm-ppo", AgentContext(env_id=WALKER, options=AgentOptions(vlm=f"clip:{tmp_path / 'no-clip'}")))
    with pytest.raises(AgentUnavailable, match="not one of GenRL's tasks"):
        check_agent("genrl", AgentContext(env_id="CartPole-v1", options=options))


PPO_SETTINGS = {"timesteps": 40, "n_steps": 20, "batch_size": 10, "n_epochs": 1, "policy": "MlpPolicy",
                "prompt": "a robot runs fast"}


def test_vlm_ppo_trains_on_the_vlm_reward_records_the_gt_curve_and_resumes(tmp_path, monkeypatch):
    from tests.support.tiny_vlm import build_clip

    env_id = register()  # GT reward 1.0 per step, 5-step episodes
    vlm_dir = build_clip(tmp_path / "clip")
    suite = Suite(name="v", description="", tasks=(env_id,), agents=("vlm-ppo",), episodes=2,
                  agent_settings={"vlm-ppo": PPO_SETTINGS})
    options = AgentOptions(vlm=str(vlm_dir))
    results = runner.run_suite(suite, tmp_path / "out", options=options, videos=False)
    cell = results.find_cell(env_id, "vlm-ppo")
    curve = cell["learning_curve"]
    assert curve["steps"] == [5, 10, 15, 20, 25, 30, 35, 40]  # one point per finished training episode
    assert curve["returns"] == [5.0] * 8  # the env's GT reward, not the VLM's
    assert all(abs(r) <= 5.0 for r in curve["vlm_returns"]) and curve["vlm_returns"] != curve["returns"]
    assert cell["returns"] == [5.0, 5.0]  # evaluated on the GT reward
    assert "vlm-ppo (PPO 40 steps, VLM clip, k=1)" == cell["agent_label"]
    work = tmp_path / "out" / cell["agent_dir"]
    assert work.parent == tmp_path / "out" / "agents" / "vlm-ppo" / env_id.split("/")[-1] and work.name.startswith("seed0-")
    assert (work / "policy.safetensors").is_file() and json.loads((work / "learning_curve.json").read_text())["steps"]
    md = (tmp_path / "out" / "results.md").read_text()
    assert "## Learning curves" in md and f"| {env_id.split('/')[-1]} | vlm-ppo | 8 | 40 | 5.0 |" in md
    assert (tmp_path / "out" / "plots" / "learning_curves.png").stat().st_size > 5000

    # a finished training run is reused, not retrained, and gives the same policy
    from stable_baselines3 import PPO

    def must_not_learn(*args, **kwargs):
        raise AssertionError("a finished vlm-ppo run was retrained")

    monkeypatch.setattr(PPO, "learn", must_not_learn)
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(env_id)])
    context = AgentContext(env_id=env_id, options=options, settings=PPO_SETTINGS, work_dir=work)
    agent = make_agent("vlm-ppo", envs, 0, context)
    obs, _ = envs.reset(seed=3)
    assert agent.learning_curve["steps"] == curve["steps"]
    from safetensors.torch import load_file

    saved = load_file(str(work / "policy.safetensors"))
    assert saved  # the weights file holds the policy's tensors
    assert all(torch.equal(v, saved[k]) for k, v in agent.model.policy.state_dict().items())
    assert agent.act(obs).shape == (1, 2)


def _tiny_world_model_checkpoint(path, action_dim=6, embed_dim=16):
    from agents.genrl.checkpoint import TrainingState, save_checkpoint
    from agents.genrl.connector import Connector, ConnectorConfig, make_connector_optimizer
    from agents.genrl.world_model import WorldModel, WorldModelConfig, make_optimizer

    torch.manual_seed(0)
    wm = WorldModel(WorldModelConfig.small(action_dim=action_dim))
    connector = Connector(ConnectorConfig.for_world_model(wm.config, embed_dim=embed_dim))
    state = TrainingState(model=wm, optimizer=make_optimizer(wm), connector=connector,
                          connector_optimizer=make_connector_optimizer(connector))
    return save_checkpoint(path, state)


def test_genrl_learns_a_behaviour_per_task_caches_it_and_evaluates(tmp_path, monkeypatch):
    _tiny_world_model_checkpoint(tmp_path / "walker.safetensors")  # found as <dir>/walker.safetensors
    options = AgentOptions(genrl_checkpoints={"*": str(tmp_path)}, vlm=FakeVLM(dim=16))
    settings = {"steps": 2, "config": "small", "batch_size": 4, "batch_length": 4}
    suite = Suite(name="g", description="", tasks=(WALKER,), agents=("genrl",), episodes=2,
                  env_kwargs={"dmc": {"render_quality": "fast", "max_episode_steps": 6}},
                  agent_settings={"genrl": settings})
    results = runner.run_suite(suite, tmp_path / "out", options=options, videos=False)
    cell = results.find_cell(WALKER, "genrl")
    assert cell["lengths"] == [6, 6] and cell["task"] == "walker_stand" and len(cell["normalized"]) == 2
    assert cell["agent_label"].startswith("genrl (2 updates, VLM fake-vlm (offline stand-in")
    behaviour = tmp_path / "out" / cell["agent_dir"] / "behaviour.safetensors"
    from agents.genrl.behaviour import ActorCritic, load_behaviour

    _, step, _, _ = load_behaviour(behaviour)
    assert step == 2

    # the cached behaviour is reused: evaluating again does no update and gives the same returns
    def must_not_update(*args, **kwargs):
        raise AssertionError("a finished behaviour was trained again")

    monkeypatch.setattr(ActorCritic, "update", must_not_update)
    context = AgentContext(env_id=WALKER, env_kwargs={"render_quality": "fast", "max_episode_steps": 6},
                           options=options, settings=settings, work_dir=behaviour.parent)
    again = runner.evaluate(WALKER, "genrl", 2, seed=0, env_kwargs=context.env_kwargs, context=context)
    assert again["lengths"] == [6, 6] and np.isfinite(again["returns"]).all()


def test_learning_curve_helpers():
    assert running_mean(np.array([1.0, 3.0, 5.0]), 2).tolist() == [1.0, 2.0, 4.0]
    with pytest.raises(ValueError, match="window must be >= 1"):
        running_mean(np.array([1.0]), 0)
    cells = {"a": {"env_id": "e", "agent": "x", "learning_curve": {"steps": [1, 2], "returns": [1.0]}}}
    with pytest.raises(ValueError, match="2 steps but 1 returns"):
        curve_summary(cells)


def test_cli_parses_checkpoints_and_settings():
    assert parse_checkpoints(["walker=/m/w.pt", "/models"]) == {"walker": "/m/w.pt", "*": "/models"}
    with pytest.raises(ValueError, match="given twice for 'walker'"):
        parse_checkpoints(["walker=a", "walker=b"])
    with pytest.raises(ValueError, match="DOMAIN=PATH"):
        parse_checkpoints(["=x"])
    assert parse_settings(["vlm-ppo.timesteps=2000", "genrl.config=small", "vlm-ppo.k=8"]) == {
        "vlm-ppo": {"timesteps": 2000, "k": 8}, "genrl": {"config": "small"}}
    with pytest.raises(ValueError, match="AGENT.KEY=VALUE"):
        parse_settings(["timesteps=5"])


def test_genrl_loads_an_official_checkpoint_found_by_its_release_name(tmp_path):
    from tests.support.genrl_reference import save_reference_checkpoint

    save_reference_checkpoint(tmp_path / "genrl_walker_500k_2.pt", action_dim=6)  # connector embed_dim 8
    options = AgentOptions(genrl_checkpoints={"*": str(tmp_path)}, vlm=FakeVLM(dim=8))
    kwargs = {"render_quality": "fast", "max_episode_steps": 4}
    context = AgentContext(env_id=WALKER, env_kwargs=kwargs, options=options,
                           settings={"steps": 1, "config": "small", "batch_size": 2, "batch_length": 2},
                           work_dir=tmp_path / "work")
    check_agent("genrl", context)
    cell = runner.evaluate(WALKER, "genrl", 1, seed=0, env_kwargs=kwargs, context=context)
    assert cell["lengths"] == [4] and (tmp_path / "work" / "behaviour.safetensors").is_file()
    wrong = AgentOptions(genrl_checkpoints={"*": str(tmp_path)}, vlm=FakeVLM(dim=16))
    with pytest.raises(AgentUnavailable, match="does not fit the VLM.*embedding size 16"):
        runner.evaluate(WALKER, "genrl", 1, seed=0, env_kwargs=kwargs,
                        context=AgentContext(env_id=WALKER, env_kwargs=kwargs, options=wrong, settings=context.settings))


def test_unknown_agent_setting_is_a_clear_error(tmp_path):
    suite = Suite(name="s", description="", tasks=(WALKER,), agents=("vlm-ppo",),
                  agent_settings={"vlm-ppo": {"timestep": 10}})
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['timestep'\] for agent 'vlm-ppo'.*'timesteps'"):
        runner.run_suite(suite, tmp_path)


def test_cli_passes_checkpoints_vlm_and_settings_to_the_agents(tmp_path, capsys):
    from benchmarks.cli import main

    ckpt = tmp_path / "w.safetensors"
    code = main(["--suite", "genrl-dmc", "--tasks", WALKER, "--agent", "genrl", "--out", str(tmp_path / "o"),
                 "--genrl-checkpoint", f"walker={ckpt}", "--vlm", "random-features", "--set", "genrl.steps=3"])
    assert code == 1  # every cell skipped: nothing was evaluated
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    assert [s["message"] for s in data["skipped_cells"].values()] == [
        f"genrl: the checkpoint for domain 'walker' does not exist: {ckpt}"]
    ckpt.write_bytes(b"")  # now it exists; the stand-in VLM is refused next
    main(["--suite", "genrl-dmc", "--tasks", WALKER, "--agent", "genrl", "--out", str(tmp_path / "o"),
          "--genrl-checkpoint", f"walker={ckpt}", "--vlm", "random-features"])
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    skipped = data["skipped_cells"][data["meta"]["cell_keys"][0]]["message"]
    assert "'random-features' has no text tower" in skipped
    capsys.readouterr()
    # a user error: one line on stderr, status 2 (issue #15)
    assert main(["--suite", "genrl-dmc", "--set", "gnerl.steps=3", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "unknown agent" in err and err.startswith("python -m benchmarks: error: ") and err.count("\n") == 1
