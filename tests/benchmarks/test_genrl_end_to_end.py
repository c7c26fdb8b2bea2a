"""CI miniature of the GenRL path (benchmarks/genrl_end_to_end.py) on a synthetic pixel env: exploration data,
VLM clip embeddings, a small MFWM + connector, a video prompt, data-free behaviour learning, evaluation.

Default (fast): every stage runs, files are written, a re-run resumes instead of redoing work.
Slow: a longer miniature checks that the learned behaviour earns a higher prompt reward than random actions.
"""
import json

import numpy as np
import pytest
import torch

from agents.genrl.episodes import EpisodeStore
from benchmarks.genrl_end_to_end import STAGES, Args, embed_episodes, format_table, run
from tests.support.fake_vlm import FakeVLM
from tests.support.moving_pattern_env import MovingSquareEnv, moving_square_frame
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def upward_clip(n=8):
    """The prompt: the square moving right and up (what action[0] = -1 does in MovingSquareEnv)."""
    return np.stack([moving_square_frame(8 + 4 * i, 40 - 4 * i) for i in range(n)])


def test_embed_episodes_matches_reference_windows(tmp_path):
    from agents.genrl.episodes import collect

    store = EpisodeStore(tmp_path)
    collect(MovingSquareEnv(episode_steps=11), None, 1, store, seed=0, progress=False)
    vlm = FakeVLM()
    assert embed_episodes(store, vlm, batch=3) == 1
    ep = store.load(0, ("observation", "clip_video"))
    emb = ep["clip_video"]
    assert emb.shape == (12, 16)
    assert not emb[:7].any()  # first 7 steps: zeros
    frames = ep["observation"].transpose(0, 2, 3, 1)
    for t in (7, 11):
        assert np.allclose(emb[t], vlm.embed_video(frames[t - 7 : t + 1][None])[0].numpy(), atol=1e-6)
    assert embed_episodes(store, vlm) == 0  # already embedded


def tiny_args(tmp_path, **kw):
    base = dict(run_dir=str(tmp_path / "run"), episodes=2, wm_steps=3, wm_batch=2, wm_length=16,
                behaviour_steps=2, behaviour_batch=4, behaviour_length=4, eval_episodes=1, progress=False,
                eval_task="walker_stand")
    base.update(kw)
    return Args(**base)


def test_miniature_runs_every_stage_and_resumes(tmp_path):
    vlm = FakeVLM()
    env = lambda: MovingSquareEnv(episode_steps=20)  # noqa: E731
    args = tiny_args(tmp_path, behaviour_lr=2e-4)
    results = run(args, vlm=vlm, env_factory=env, eval_env=env, prompt_clip=upward_clip())
    run_dir = tmp_path / "run"
    for name in ("prompt.gif", "results.json", "world_model/checkpoint.safetensors",
                 "behaviour/behaviour.safetensors"):
        assert (run_dir / name).exists(), name
    assert results["genrl"]["episodes"] == 1 and results["random"]["episodes"] == 1
    assert results["genrl"]["normalized_score"] is not None  # scored against walker_stand's table row
    table = format_table(results)
    assert "fake-vlm (offline stand-in" in table and "random policy" in table
    check = results["prompt_reward_check"]
    assert set(check) == {"genrl", "random", "zero_action"}
    assert all(np.isfinite(v["prompt_reward_per_step"]) for v in check.values())
    assert "prompt reward/step" in table and f"{check['random']['prompt_reward_per_step']:.3f}" in table
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["task"] == "walker_stand"
    assert list(results["timings_s"]) == list(STAGES)  # every stage timed, in order, by the stage bar
    # a re-run resumes: no new episodes, no new world-model or behaviour updates
    calls = vlm.video_calls
    run(args, vlm=vlm, env_factory=env, eval_env=env, prompt_clip=upward_clip())
    assert len(EpisodeStore(run_dir / "data")) == 2
    assert vlm.video_calls == calls + 2  # only the prompt embedding (behaviour learning and the reward check)
    from agents.genrl.behaviour import load_behaviour

    config = load_behaviour(run_dir / "behaviour" / "behaviour.safetensors")[3]["config"]
    assert config["actor_lr"] == config["critic_lr"] == 2e-4  # --behaviour-lr reaches the actor-critic
    lines = (run_dir / "behaviour" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 2 and len(lines) == 1


def test_miniature_learned_behaviour_beats_random_on_prompt_reward(tmp_path):
    """Issue #7's CI miniature of the whole path (in the default run on purpose). About 70 s on a quiet machine: 12 random episodes of the slider env, 200 MFWM + connector steps (lr 1e-3:
    GenRL's 1e-4 needs far more steps on these tiny runs), a video prompt of a full bar, 100 data-free
    behaviour updates, then the prompt reward (GenRLReward) of 8 real episodes for the learned policy vs
    uniform random actions (and the scripted prompted motion as a check of the reward itself)."""
    from agents.genrl.behaviour import BehaviourConfig, learn_behaviour, run_episodes
    from agents.genrl.checkpoint import TrainingState
    from agents.genrl.connector import Connector, ConnectorConfig, make_connector_optimizer
    from agents.genrl.episodes import collect
    from agents.genrl.reward import MFWM
    from agents.genrl.train_world_model import to_torch, train_step
    from agents.genrl.world_model import WorldModel, WorldModelConfig, make_optimizer
    from tests.support.slider_env import SliderEnv, slider_frame
    from wrappers.genrl_reward import GenRLReward

    vlm = FakeVLM()
    store = EpisodeStore(tmp_path)
    collect(SliderEnv(), None, 12, store, seed=0, progress=False)
    embed_episodes(store, vlm)
    torch.manual_seed(0)
    wm = WorldModel(WorldModelConfig.small(action_dim=2))
    wm.config.lr = 1e-3
    conn = Connector(ConnectorConfig.for_world_model(wm.config, embed_dim=16, lr=1e-3))
    state = TrainingState(wm, make_optimizer(wm), 0, np.random.default_rng(0), conn, make_connector_optimizer(conn))
    keys = ("observation", "action", "reward", "is_first", "clip_video")
    for _ in range(200):
        metrics = train_step(state, to_torch(store.sample(8, 24, state.rng, keys)))
    assert metrics["image_loss"] < 150, metrics
    model = MFWM(wm, conn, vlm)
    clip = np.stack([slider_frame(0.95)] * 8)  # the prompt video: a full bar
    wrapped = GenRLReward(SliderEnv(), model, clip)
    wrapped.action_space.seed(0)
    rnd = run_episodes(wrapped, lambda o: wrapped.action_space.sample(), 8, seed=100)
    scripted = run_episodes(wrapped, lambda o: np.array([1.0, 0.0], np.float32), 8, seed=100)
    assert np.mean(scripted) > np.mean(rnd) + 3, (scripted, rnd)  # the prompted state earns more reward
    policy = learn_behaviour(model, clip, steps=100, config=BehaviourConfig.small(batch_size=8, batch_length=8),
                             progress=False)
    ours = run_episodes(wrapped, lambda o: policy.act()[0], 8, seed=100,
                        on_step=lambda o, a: policy.observe(o[None], a[None]),
                        on_reset=lambda o: policy.reset(o[None]))
    assert np.mean(ours) > np.mean(rnd) + 3, (ours, rnd)
    # the env's own reward (the bar's length) agrees: the learned behaviour pushes the bar right
    from agents.genrl.behaviour import evaluate_behaviour, evaluate_random

    gt = evaluate_behaviour(policy, model, SliderEnv, episodes=4, seed=200)
    gt_random = evaluate_random(SliderEnv, episodes=4, seed=200)
    assert gt["mean_return"] > gt_random["mean_return"], (gt, gt_random)


def test_held_random_actions_hold_then_change_within_bounds():
    """The exploration of issue #7's fix: random actions held for 1..max_hold steps, inside the Box."""
    import gymnasium as gym

    from benchmarks.genrl_end_to_end import HeldRandomActions

    space = gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 2.0], np.float32))
    policy = HeldRandomActions(space, max_hold=5, seed=3)
    actions = np.stack([policy(None) for _ in range(2000)])
    assert actions.dtype == np.float32 and actions.shape == (2000, 2)
    assert (actions >= space.low).all() and (actions <= space.high).all()
    change = np.flatnonzero(np.any(actions[1:] != actions[:-1], axis=1)) + 1
    runs = np.diff(np.concatenate([[0], change, [len(actions)]]))[:-1]  # the last run may be cut short
    assert runs.min() >= 1 and runs.max() <= 5
    assert set(runs.tolist()) == {1, 2, 3, 4, 5}  # every hold length occurs (uniform over 1..5)
    assert abs(runs.mean() - 3.0) < 0.3
    # a new draw per hold: not the same action again
    assert len(np.unique(actions[np.concatenate([[0], change])], axis=0)) == len(change) + 1
    # the same seed gives the same actions
    again = HeldRandomActions(space, max_hold=5, seed=3)
    assert np.array_equal(np.stack([again(None) for _ in range(50)]), actions[:50])


def test_held_random_actions_rejects_bad_input():
    import gymnasium as gym

    from benchmarks.genrl_end_to_end import HeldRandomActions, exploration_policy

    box = gym.spaces.Box(-1.0, 1.0, (3,))
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="max_hold"):
            HeldRandomActions(box, max_hold=bad)
    with pytest.raises(ValueError, match="bounded 1-d Box"):
        HeldRandomActions(gym.spaces.Box(-np.inf, np.inf, (3,)))
    with pytest.raises(ValueError, match="unknown exploration 'sticky'"):
        exploration_policy("sticky", box)
    assert exploration_policy("uniform", box) is None
    assert isinstance(exploration_policy("held", box), HeldRandomActions)


def test_parse_args_exploration_flags():
    from benchmarks.genrl_end_to_end import parse_args

    args = parse_args([])
    assert args.exploration == "held" and args.max_hold == 16 and args.check_episodes == 2
    assert args.behaviour_lr is None
    args = parse_args(["--exploration", "uniform", "--max-hold", "4", "--check-episodes", "0", "--behaviour-lr", "3e-4"])
    assert (args.exploration, args.max_hold, args.check_episodes, args.behaviour_lr) == ("uniform", 4, 0, 3e-4)
    with pytest.raises(SystemExit):
        parse_args(["--exploration", "sticky"])


def test_prompt_reward_check_scores_every_policy_and_keeps_task_reward(tmp_path):
    """The check's numbers are GenRLReward's per-step prompt reward and the env's own (task) return."""
    from agents.genrl.connector import Connector, ConnectorConfig
    from agents.genrl.reward import MFWM
    from agents.genrl.world_model import WorldModel, WorldModelConfig
    from benchmarks.genrl_end_to_end import prompt_reward_check
    from wrappers.genrl_reward import GenRLReward

    torch.manual_seed(0)
    wm = WorldModel(WorldModelConfig.small(action_dim=2))
    model = MFWM(wm, Connector(ConnectorConfig.for_world_model(wm.config, embed_dim=16)), FakeVLM())
    env = lambda: MovingSquareEnv(episode_steps=12)  # noqa: E731
    left = lambda o: np.array([-1.0, 0.0], np.float32)  # noqa: E731
    out = prompt_reward_check(model, upward_clip(), env, {"left": left}, episodes=2, seed=5)
    # the same numbers by hand with the wrapper
    wrapped = GenRLReward(env(), model, upward_clip())
    means, task = [], []
    for ep in range(2):
        obs, _ = wrapped.reset(seed=5 + ep)
        rs, t, done = [], 0.0, False
        while not done:
            obs, r, term, trunc, info = wrapped.step(left(obs))
            rs.append(r)
            t += info["task_reward"]
            done = term or trunc
        means.append(np.mean(rs))
        task.append(t)
    assert out["left"]["prompt_reward_per_step"] == pytest.approx(np.mean(means), abs=1e-6)
    assert out["left"]["task_return"] == pytest.approx(np.mean(task), abs=1e-6)


def test_the_preset_variable_gives_the_tiny_settings_in_the_usual_run_directory(monkeypatch):
    """The README runs its GenRL examples after ``GENRL_END_TO_END_PRESET=tiny python -m benchmarks.genrl_end_to_end``."""
    from benchmarks.genrl_end_to_end import PRESET_ENV, parse_args

    monkeypatch.setenv(PRESET_ENV, "tiny")
    args = parse_args([])
    assert args == Args.tiny(run_dir=Args.run_dir) and args.run_dir == "runs/genrl_end_to_end"
    assert parse_args(["--wm-steps", "7"]).wm_steps == 7  # flags still override the preset
    assert parse_args(["--tiny"]).run_dir == "runs/genrl_end_to_end_tiny"
    monkeypatch.setenv(PRESET_ENV, "huge")
    with pytest.raises(SystemExit):
        parse_args([])


def test_a_run_directory_refuses_other_settings(tmp_path, capsys):
    """A tiny run must not be resumed as a full one (its data and models would be mixed into the results)."""
    from benchmarks.genrl_end_to_end import RESUMABLE_CHANGES, main

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tiny = {k: v for k, v in vars(Args.tiny()).items() if k not in RESUMABLE_CHANGES}
    (run_dir / "settings.json").write_text(json.dumps(tiny))
    assert main(["--run-dir", str(run_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "wm_batch 4 -> 16" in err and "--run-dir" in err
    assert sorted(p.name for p in run_dir.iterdir()) == ["settings.json"]  # nothing was run
