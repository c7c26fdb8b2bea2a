"""Benchmark suites as data: which tasks, which agents, how many episodes, which perf figures.

A suite is a :class:`Suite`; adding one is adding an entry to :data:`SUITES`. The runner
(:mod:`benchmarks.runner`) turns a suite into cells (task x agent) and runs each once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

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
            pipelines=("genrl_end_to_end",),
        ),
        Suite(
            name="genrl-dmc",
            description="GenRL's 35 tasks with their prompts: per-task, per-domain and overall "
            "normalised scores",
            tasks=tuple(t.env_id for t in TASKS.values()),
            agents=("random",),
            episodes=10,
        ),
        Suite(
            name="vpt-minerl",
            description="VPT's MineRL tasks (needs MineRL 1.0, a JDK 8 and a display)",
            tasks=("vpt_gym/MineRLObtainDiamondShovel-v0",),
            agents=("random",),
            episodes=10,
            requires="minerl",
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
