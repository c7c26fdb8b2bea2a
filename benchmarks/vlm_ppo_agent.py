"""The ``vlm-ppo`` benchmark agent: GenRL's VLM-reward baseline, an SB3 PPO (or SAC) trained per task on the
cosine similarity between a VLM's embedding of the last frames and the task's text prompt
(:class:`wrappers.vlm_reward.VLMReward`), then evaluated on the env's ground-truth (GT) reward.

While it trains, the GT return of every finished training episode is recorded against the env steps taken so
far: the cell's learning curve, which the report plots. The trained policy's weights (safetensors, no pickle)
and the curve are cached in ``<out>/agents/vlm-ppo/<task>/``; a finished run is reused, not retrained.

Settings (suite data, ``--set vlm-ppo.KEY=VALUE``): ``timesteps`` (training budget in env steps), ``algo``
(``"ppo"`` or ``"sac"``), ``policy`` (``"CnnPolicy"``; ``"MlpPolicy"`` for tiny images), ``k`` (1: the
image-language baseline; the VLM's ``n_frames``: the video-language one), ``n_steps``, ``batch_size``,
``learning_rate``, ``buffer_size`` (SAC), ``learning_starts`` (SAC).

Needs ``--vlm`` with a text tower (see :mod:`benchmarks.agent_vlm`); the random-features stand-in is refused.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from benchmarks.agent_vlm import text_vlm
from vpt_gym.atomic_file import write_atomic
from benchmarks.agents import AgentContext, AgentUnavailable
from vpt_gym.tasks import TASKS

_TASK_BY_ENV_ID = {t.env_id: t for t in TASKS.values()}
ALGOS = ("ppo", "sac")
WEIGHTS_FILE = "policy.safetensors"
CURVE_FILE = "learning_curve.json"


def prompt_for(context: AgentContext) -> str:
    """The cell's text prompt: ``settings["prompt"]`` or the GenRL task table's."""
    if "prompt" in context.settings:
        return str(context.settings["prompt"])
    task = _TASK_BY_ENV_ID.get(context.env_id)
    if task is None:
        raise AgentUnavailable(f"vlm-ppo: {context.env_id} has no prompt in vpt_gym.tasks; "
                               "pass --set vlm-ppo.prompt='...'")
    return task.prompt


def check(context: AgentContext) -> None:
    prompt_for(context)
    text_vlm(context.options, "vlm-ppo")
    algo = context.settings.get("algo", "ppo")
    if algo not in ALGOS:
        raise ValueError(f"vlm-ppo.algo must be one of {ALGOS}, got {algo!r}")


class GTReturnCurve:
    """An SB3 callback recording (env steps, GT return, VLM return) of every finished training episode.

    The GT reward is the env's own, kept by :class:`~wrappers.vlm_reward.VLMReward` in ``info["task_reward"]``.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # build the BaseCallback subclass lazily (SB3 import)
        from stable_baselines3.common.callbacks import BaseCallback

        class _Curve(BaseCallback):
            def __init__(self) -> None:
                super().__init__()
                self.steps: list[int] = []
                self.returns: list[float] = []
                self.vlm_returns: list[float] = []
                self._gt: np.ndarray | None = None
                self._vlm: np.ndarray | None = None

            def _on_step(self) -> bool:
                infos, dones = self.locals["infos"], np.asarray(self.locals["dones"])
                rewards = np.asarray(self.locals.get("rewards", np.zeros(len(infos))), dtype=np.float64)
                if self._gt is None:
                    self._gt, self._vlm = np.zeros(len(infos)), np.zeros(len(infos))
                for i, info in enumerate(infos):
                    if "task_reward" not in info:
                        raise KeyError("vlm-ppo: the training env's info has no 'task_reward' (is VLMReward on?)")
                    self._gt[i] += float(info["task_reward"])
                    self._vlm[i] += float(rewards[i])
                    if dones[i]:
                        self.steps.append(int(self.num_timesteps))
                        self.returns.append(float(self._gt[i]))
                        self.vlm_returns.append(float(self._vlm[i]))
                        self._gt[i] = self._vlm[i] = 0.0
                return True

        return _Curve()


def _make_model(env: gym.Env, settings: dict[str, Any], seed: int) -> Any:
    algo = settings.get("algo", "ppo")
    policy = settings.get("policy", "CnnPolicy")
    if algo == "ppo":
        from stable_baselines3 import PPO

        kw = {k: settings[k] for k in ("n_steps", "batch_size", "learning_rate", "n_epochs") if k in settings}
        return PPO(policy, env, seed=seed, verbose=0, device="cpu", **kw)
    from stable_baselines3 import SAC

    kw = {k: settings[k] for k in ("batch_size", "learning_rate", "buffer_size", "learning_starts") if k in settings}
    kw.setdefault("buffer_size", 100_000)
    return SAC(policy, env, seed=seed, verbose=0, device="cpu", **kw)


def _training_env(context: AgentContext, vlm: Any, prompt: str) -> gym.Env:
    from wrappers.vlm_reward import VLMReward

    k = int(context.settings.get("k", 1))
    return VLMReward(context.make_env(), vlm, prompt, k=k)


def _jsonable(settings: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(settings, sort_keys=True, default=repr))


class SB3Agent:
    """A trained SB3 model acting deterministically on a vector env's batched observations."""

    def __init__(self, model: Any, label: str, learning_curve: dict[str, Any]) -> None:
        self.model, self.label, self.learning_curve = model, label, learning_curve

    def act(self, obs: Any) -> np.ndarray:
        action, _ = self.model.predict(obs, deterministic=True)
        return action


def build(envs: gym.vector.VectorEnv, seed: int, context: AgentContext) -> SB3Agent:
    """Train (or reload) the task's VLM-reward policy; evaluation then uses the GT reward."""
    from safetensors.torch import load_file, save_file

    check(context)
    vlm = text_vlm(context.options, "vlm-ppo")
    prompt = prompt_for(context)
    settings = context.settings
    timesteps = int(settings.get("timesteps", 100_000))
    if timesteps < 1:
        raise ValueError(f"vlm-ppo.timesteps must be >= 1, got {timesteps}")
    algo = settings.get("algo", "ppo")
    env = _training_env(context, vlm, prompt)
    model = _make_model(env, settings, seed)
    work = Path(context.work_dir) if context.work_dir is not None else None
    done_before = work is not None and (work / WEIGHTS_FILE).is_file() and (work / CURVE_FILE).is_file()
    if done_before:
        curve = json.loads((work / CURVE_FILE).read_text(encoding="utf-8"))
        if curve.get("settings") != _jsonable(settings):
            done_before = False  # trained with other settings or budget: train afresh
    if done_before:
        model.policy.load_state_dict(load_file(str(work / WEIGHTS_FILE)), strict=True)
    else:
        callback = GTReturnCurve()
        model.learn(total_timesteps=timesteps, callback=callback, progress_bar=context.options.progress)
        curve = {"x": "env steps", "y": "GT return (training episodes)", "steps": callback.steps,
                 "returns": callback.returns, "vlm_returns": callback.vlm_returns, "timesteps": timesteps,
                 "algo": algo, "prompt": prompt, "settings": _jsonable(settings)}
        if work is not None:
            weights = {k: v.detach().contiguous() for k, v in model.policy.state_dict().items()}
            write_atomic(work / WEIGHTS_FILE, lambda tmp: save_file(weights, str(tmp)))
            (work / CURVE_FILE).write_text(json.dumps(curve), encoding="utf-8")
    env.close()
    name = getattr(vlm, "name", type(vlm).__name__)
    stand_in = " (stand-in, not a real VLM)" if getattr(vlm, "is_stand_in", False) else ""
    label = f"vlm-ppo ({algo.upper()} {timesteps} steps, VLM {name}{stand_in}, k={settings.get('k', 1)})"
    return SB3Agent(model, label, curve)
