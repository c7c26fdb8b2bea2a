"""Benchmark suites as data: which tasks, which agents, how many episodes, which perf figures.

A suite is a :class:`Suite`; adding one is adding an entry to :data:`SUITES`. The runner
(:mod:`benchmarks.runner`) turns a suite into cells (task x agent) and runs each once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from vpt_gym.tasks import TASKS


@dataclass(frozen=True)
class Suite:
    """One benchmark suite.

    :param name: the name given to ``--suite``.
    :param description: one line for ``vpt-gym bench --list``.
    :param tasks: env ids to evaluate on.
    :param agents: evaluation agents (names of :data:`benchmarks.agents.AGENTS`).
    :param episodes: evaluation episodes per (task, agent) cell.
    :param env_kwargs: keyword arguments for ``gym.make``, per env family (``"dmc"``, ``"kitchen"``,
        ``"crafter"``, ...; see :data:`vpt_gym.registration.ENV_TABLE`).
    :param perf: performance measurements to run (names of :data:`benchmarks.perf.MEASUREMENTS`).
    :param pipelines: end-to-end train-and-evaluate runs (names of :data:`benchmarks.pipelines.PIPELINES`).
    :param requires: a module that must be importable for the suite to run (else it is skipped with
        a message naming the pip extra).
    :param agent_settings: per trained agent, its training budget and hyper-parameters (e.g.
        ``{"vlm-ppo": {"timesteps": 500_000}}``; see :mod:`benchmarks.genrl_agent`,
        :mod:`benchmarks.vlm_ppo_agent`); ``--set AGENT.KEY=VALUE`` overrides one.
    :param env_maker: ``"module:function"`` that makes one env as ``function(env_id, **env_kwargs)``
        instead of ``gym.make`` (e.g. a stack that also reports MineRL inventories).
    :param pipeline_size: ``"quick"`` (minutes; also when ``--full-perf`` is not given) or ``"full"``
        (the pipelines' published-size settings).
    """

    name: str
    description: str
    tasks: tuple[str, ...] = ()
    agents: tuple[str, ...] = ("random",)
    episodes: int = 2
    env_kwargs: dict[str, dict] = field(default_factory=dict)
    perf: tuple[str, ...] = ()
    pipelines: tuple[str, ...] = ()
    requires: str | None = None
    agent_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    env_maker: str | None = None
    pipeline_size: str = "quick"

    def __post_init__(self) -> None:
        if self.pipeline_size not in ("quick", "full"):
            raise ValueError(f"Suite {self.name!r}: pipeline_size must be 'quick' or 'full', got {self.pipeline_size!r}")


SMOKE_TASKS = (
    "vpt_gym/walker-stand-v0",
    "vpt_gym/cheetah-run-v0",
    "vpt_gym/quadruped-walk-v0",
    "vpt_gym/stickman-stand-v0",
    "vpt_gym/kitchen-microwave-v0",
    "vpt_gym/Crafter-v1",
)

SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite(
            name="smoke",
            description="offline, minutes on a 2-core CPU: every env family that runs here, agents "
            "without downloads, quick performance figures",
            tasks=SMOKE_TASKS,
            agents=("random",),
            episodes=2,
            env_kwargs={"dmc": {"render_quality": "fast"}, "crafter": {"length": 1000}},
            perf=("minerl_wrapper_overhead", "dmc_speed", "crafter_speed", "vpt_policy_speed",
                  "world_model_speed"),
            pipelines=("genrl_end_to_end", "vpt_crafter"),
        ),
        Suite(
            name="genrl-dmc",
            description="GenRL's 35 tasks with their prompts: per-task, per-domain and overall "
            "normalised scores (genrl needs --genrl-checkpoint and --vlm; vlm-ppo needs --vlm)",
            tasks=tuple(t.env_id for t in TASKS.values()),
            agents=("random", "genrl", "vlm-ppo"),
            episodes=10,
            agent_settings={
                # GenRL: 50k data-free behaviour updates per prompt, batch 32 x 32, GenRL's network sizes.
                "genrl": {"steps": 50_000, "config": "genrl"},
                # VLM-reward baseline: online PPO on the image-language reward (k = 1). GenRL's own baselines
                # were offline TD3/IQL trained for 500k steps; we give PPO the same number of env steps.
                "vlm-ppo": {"timesteps": 500_000, "algo": "ppo", "policy": "CnnPolicy", "k": 1},
            },
        ),
        Suite(
            name="vpt-minerl",
            description="VPT's item tasks (logs ... diamond) in MineRL: per-item success rates (needs MineRL "
            "1.0, a JDK 8 and a display; vpt loads --vpt-model)",
            tasks=("vpt_gym/MineRLObtainDiamondShovel-v0",),
            agents=("random", "vpt"),
            episodes=10,
            # VPT's RL evaluation: 10-minute episodes at 20 Hz from a fresh world.
            env_kwargs={"minerl": {"size": 128, "max_episode_steps": 12_000}},
            requires="minerl",
            env_maker="benchmarks.minerl_items:make_item_env",
        ),
        Suite(
            name="vpt-crafter",
            description="the VPT method on Crafter (IDM -> pseudo-labels -> BC -> KL-PPO) at full size, "
            "with Crafter scores and per-achievement success rates",
            pipelines=("vpt_crafter",),
            pipeline_size="full",
        ),
        Suite(
            name="perf",
            description="the performance figures of every component, ratios against baselines "
            "measured in the same run (add --full-perf for the published-size figures)",
            perf=("minerl_wrapper_overhead", "dmc_speed", "crafter_speed", "vpt_policy_speed",
                  "world_model_speed"),
        ),
    )
}


def env_kwargs_for(suite: Suite, env_id: str) -> dict:
    """The suite's ``gym.make`` keyword arguments for ``env_id`` (by the id's env family)."""
    from vpt_gym.registration import ENV_TABLE

    family = next((e.family for e in ENV_TABLE if e.id == env_id), None)
    return dict(suite.env_kwargs.get(family, {})) if family else {}


def get_suite(name: str) -> Suite:
    """The suite called ``name``, or a ``KeyError`` listing the valid names."""
    try:
        return SUITES[name]
    except KeyError:
        raise KeyError(f"Unknown suite {name!r}; valid suites: {', '.join(SUITES)}") from None


def env_maker_for(suite: Suite) -> Callable[..., Any]:
    """The suite's ``env_maker`` function (``gym.make`` when it names none)."""
    import gymnasium as gym

    if suite.env_maker is None:
        return gym.make
    module, _, name = suite.env_maker.partition(":")
    if not module or not name:
        raise ValueError(f"suite {suite.name!r}: env_maker must be 'module:function', got {suite.env_maker!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
