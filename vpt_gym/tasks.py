"""GenRL's 35 evaluation tasks: prompts, random and expert scores, normalised score.

The one source of truth for the task table of GenRL (spec ``genrl.md`` section 6.2, taken from the
reference's ``tools/genrl_utils.py: TASK2PROMPT`` and ``tools/task_scores.py``). The env registration,
the benchmarks and the reward wrappers all read it from here. Importing this module is cheap: it
imports neither dm_control nor mujoco.

Example::

    >>> from vpt_gym.tasks import TASKS, normalized_score, prompt_for
    >>> prompt_for("walker_walk")
    'walk fast clean'
    >>> round(normalized_score("walker_walk", 502.5), 3)
    0.5
    >>> TASKS["quadruped_jump"].camera_id
    2
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

__all__ = [
    "Task",
    "TASKS",
    "DOMAINS",
    "UnknownTaskError",
    "get_task",
    "normalized_score",
    "prompt_for",
    "task_ids",
]


@dataclass(frozen=True)
class Task:
    """One GenRL evaluation task.

    :param id: GenRL's task name, ``"<domain>_<task>"``, e.g. ``"walker_lying_down"``.
    :param domain: the dm_control domain (``walker``, ``cheetah``, ``quadruped``, ``stickman``) or
        ``kitchen``.
    :param task: the task name inside its domain, e.g. ``"lying_down"``.
    :param prompt: the text prompt of the reference repository at HEAD (``TASK2PROMPT``).
    :param prompt_v1: the wording of the v1 paper's Table 3 (equal to ``prompt`` where unchanged).
    :param random_score: episode return of a random agent (``task_scores.py`` MIN).
    :param expert_score: episode return of an expert agent (``task_scores.py`` MAX).
    :param in_training_data: whether GenRL's pre-training data holds episodes of this task.
    :param camera_id: the dm_control camera used for pixels (quadruped 2, other domains 0);
        ``None`` for kitchen, which renders from its own free camera.
    """

    id: str
    domain: str
    task: str
    prompt: str
    prompt_v1: str
    random_score: float
    expert_score: float
    in_training_data: bool
    camera_id: int | None

    @property
    def env_id(self) -> str:
        """The gymnasium id of this task, e.g. ``"vpt_gym/walker-lying_down-v0"``."""
        return f"vpt_gym/{self.domain}-{self.task}-v0"

    def normalized_score(self, episode_return: float) -> float:
        """``(return - random) / (expert - random)``: 0 for a random agent, 1 for the expert."""
        value = float(episode_return)
        if not math.isfinite(value):
            raise ValueError(f"episode_return must be a finite number, got {episode_return!r}")
        return (value - self.random_score) / (self.expert_score - self.random_score)


def _row(
    task_id: str,
    prompt: str,
    random_score: float,
    expert_score: float,
    in_training_data: bool = False,
    prompt_v1: str | None = None,
) -> Task:
    domain, task = task_id.split("_", 1)
    camera_id: int | None = None if domain == "kitchen" else (2 if domain == "quadruped" else 0)
    return Task(
        id=task_id,
        domain=domain,
        task=task,
        prompt=prompt,
        prompt_v1=prompt if prompt_v1 is None else prompt_v1,
        random_score=float(random_score),
        expert_score=float(expert_score),
        in_training_data=in_training_data,
        camera_id=camera_id,
    )


_ROWS: tuple[Task, ...] = (
    _row("walker_walk", "walk fast clean", 45, 960, True),
    _row("walker_run", "run fast clean", 30, 770, True),
    _row("walker_stand", "standing up straight", 150, 970, True),
    _row("walker_flipping", "doing backflips", 20, 720),
    _row("walker_one_foot", "stand on one foot", 20, 955),
    _row("walker_high_kick", "stand up and kick", 25, 960),
    _row("walker_lying_down", "lying down horizontally", 170, 975),
    _row("walker_sit_knees", "praying", 100, 945),
    # The repository's prompt really has the underscore.
    _row("walker_lunge_pose", "lunge_pose", 150, 945, prompt_v1="lunge pose"),
    _row("cheetah_run", "running like a quadruped", 9, 890, True),
    _row("cheetah_standing", "standing like a human", 5, 930),
    _row("cheetah_lying_down", "lying down", 430, 920),
    _row("quadruped_run", "spider running fast", 10, 930, True),
    _row("quadruped_walk", "spider walking fast", 10, 960, True),
    _row("quadruped_stand", "spider standing", 15, 990, True),
    _row("quadruped_jump", "spider jumping", 15, 875),
    _row("quadruped_two_legs", "on two legs", 14, 875),
    _row("quadruped_lie_down", "lying down", 750, 965),
    _row("stickman_walk", "robot walk fast clean", 35, 960, True),
    _row("stickman_run", "robot run fast clean", 25, 830, True),
    _row("stickman_stand", "standing up", 70, 970, True, prompt_v1="standing"),
    _row("stickman_flipping", "doing flips", 45, 790),
    _row("stickman_one_foot", "stand on one foot", 20, 865),
    _row("stickman_high_kick", "stand up and kick", 55, 920),
    _row("stickman_lying_down", "lying down horizontally", 380, 965),
    # Absent from the v1 paper's Table 3; earlier code used "lying down with feet up".
    _row(
        "stickman_legs_up",
        "lifting legs up while lying down",
        115,
        935,
        prompt_v1="lying down with feet up",
    ),
    _row("stickman_sit_knees", "praying", 40, 966),
    _row("stickman_lunge_pose", "lunge_pose", 100, 950, prompt_v1="lunge pose"),
    _row("stickman_headstand", "headstand", 180, 955),
    _row("stickman_boxing", "punch", 80, 920),
    _row("stickman_hands_up", "standing with the hands up", 5, 830),
    _row("kitchen_microwave", "opening the microwave fully open", 0, 1, True),
    _row("kitchen_light", "switch light on", 0, 1, True, prompt_v1="activate the light"),
    _row("kitchen_burner", "switch on red burner", 0, 1, True, prompt_v1="the burner becomes red"),
    _row("kitchen_slide", "slide cabinet above the knobs", 0, 1, True),
)

#: task id -> :class:`Task`, in the order of the spec's table.
TASKS: dict[str, Task] = {row.id: row for row in _ROWS}

#: domain -> its task names, in table order.
DOMAINS: dict[str, tuple[str, ...]] = {}
for _t in _ROWS:
    DOMAINS[_t.domain] = DOMAINS.get(_t.domain, ()) + (_t.task,)
del _t


class UnknownTaskError(KeyError):
    """Raised for a task id that is not among GenRL's 35; the message lists the valid ids."""

    def __str__(self) -> str:  # KeyError would repr() the message and add quotes
        return str(self.args[0]) if self.args else ""


def task_ids(domain: str | None = None) -> list[str]:
    """All task ids, or only ``domain``'s, in table order."""
    return [t.id for t in _ROWS if domain is None or t.domain == domain]


def get_task(task: str | Task) -> Task:
    """The :class:`Task` named ``task``.

    Accepts GenRL's ``"walker_walk"``, the env id ``"vpt_gym/walker-walk-v0"`` or ``"walker-walk"``.

    :raises UnknownTaskError: (a ``KeyError``) naming the unknown task and listing the valid ones.
    """
    if isinstance(task, Task):
        return task
    if not isinstance(task, str):
        raise TypeError(f"task must be a task id string, got {type(task).__name__}: {task!r}")
    key = task
    if key.startswith("vpt_gym/"):
        key = key[len("vpt_gym/") :]
    if key.endswith("-v0"):
        key = key[: -len("-v0")]
    key = key.replace("-", "_", 1)
    row = TASKS.get(key)
    if row is None:
        close = difflib.get_close_matches(key, list(TASKS), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownTaskError(
            f"Unknown GenRL task {task!r}.{hint} Valid tasks: {', '.join(TASKS)}"
        )
    return row


def normalized_score(task: str | Task, episode_return: float) -> float:
    """GenRL's normalised score ``(return - random) / (expert - random)`` (paper, section 5).

    :param task: a task id (``"walker_walk"``) or env id (``"vpt_gym/walker-walk-v0"``).
    :param episode_return: the undiscounted return of one episode (0-1000 for dm_control tasks,
        0 or 1 for kitchen).
    :return: 0.0 at the random agent's score, 1.0 at the expert's; not clipped.
    """
    return get_task(task).normalized_score(episode_return)


def prompt_for(task: str | Task, version: str = "head") -> str:
    """The text prompt of ``task``.

    :param task: a task id or env id.
    :param version: ``"head"`` (the reference repository's current wording, the default) or
        ``"v1"`` (the v1 paper's Table 3 wording).
    """
    row = get_task(task)
    if version == "head":
        return row.prompt
    if version == "v1":
        return row.prompt_v1
    raise ValueError(f"version must be 'head' or 'v1', got {version!r}")
