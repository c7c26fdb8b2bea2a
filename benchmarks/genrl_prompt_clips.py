"""Video prompts for GenRL tasks rendered from the simulator: held poses and scripted motions.

GenRL's video prompts are short clips of the target behaviour (spec section 8: ``TASK2VIDEO``). With no
recorded clips here, each task's prompt is rendered from dm_control by *setting* the body's joint positions
(and root velocity) frame by frame, at the agent's frame interval (control timestep x action repeat 2):

* **pose tasks** (``walker_stand``, ``walker_lying_down``, ``walker_sit_knees``, ``stickman_stand``): a held
  pose with a slight sway of the hips (of the torso angle for ``sit_knees``) so the clip is not one repeated image. The ``sit_knees`` pose was found
  by a random search over joint angles against that task's reward (then rounded);
* **motion tasks** (``walker_walk``, ``walker_run``, ``cheetah_run``): a scripted periodic gait (sinusoidal hip
  swing, knees bent in the swing phase; the cheetah's thighs, shins and feet in a bounding gait) while the root
  moves forward at the task's target speed (walker walk 1 m/s, run 8 m/s, cheetah 10 m/s), so the tracking
  camera sees the floor move past and the legs cycle.

Every frame is lowered until the deepest contact is within 5 mm of the floor (bisection on ``rootz``), so
nothing floats or sinks. :func:`render_task_clip` also returns the task's own reward of every frame's physics
state: a prompt is only a fair target if the simulator scores it high (the tests check that).

Example::

    >>> frames, rewards = render_task_clip("walker_stand", frames=2)
    >>> frames.shape, frames.dtype, bool(min(rewards) > 0.9)
    ((2, 64, 64, 3), dtype('uint8'), True)
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Pose = dict[str, float]
#: ``root velocity`` entries of a pose are written to qvel under the joint's name without this prefix
VELOCITY = "v_"


def _walker_gait(period: float, hip: float, knee: float, speed: float) -> Callable[[float], Pose]:
    def pose(t: float) -> Pose:
        out: Pose = {"rootx": speed * t, VELOCITY + "rootx": speed}
        for side, offset in (("right", 0.0), ("left", np.pi)):
            phase = 2 * np.pi * t / period + offset
            out[f"{side}_hip"] = hip * np.sin(phase) + 0.1
            out[f"{side}_knee"] = -knee * max(0.0, np.cos(phase))
        return out
    return pose


def _held(pose: Pose, sway_joints: tuple[str, ...] = ("right_hip", "left_hip")) -> Callable[[float], Pose]:
    def at(t: float) -> Pose:
        out = dict(pose)
        for joint in sway_joints:
            out[joint] = out.get(joint, 0.0) + 0.05 * np.sin(2 * np.pi * t / 0.4)
        return out
    return at


def _cheetah_gallop(period: float = 0.3, speed: float = 10.0) -> Callable[[float], Pose]:
    def pose(t: float) -> Pose:
        phase = 2 * np.pi * t / period
        return {"rootx": speed * t, VELOCITY + "rootx": speed,
                "bthigh": 0.5 * np.sin(phase), "bshin": 0.5 * np.sin(phase - 1.0), "bfoot": 0.4 * np.sin(phase - 2.0),
                "fthigh": 0.5 * np.sin(phase + np.pi), "fshin": 0.5 * np.sin(phase + np.pi - 1.0),
                "ffoot": 0.3 * np.sin(phase + np.pi - 2.0)}
    return pose


_SIT_KNEES = {"right_hip": 0.62, "left_hip": 0.62, "right_knee": -2.52, "left_knee": -2.52,
              "right_ankle": 0.73, "left_ankle": 0.73, "rooty": -0.39}

#: GenRL task -> (domain, dm_control task, pose at time t in seconds, kind)
CLIPS: dict[str, tuple[str, str, Callable[[float], Pose], str]] = {
    "walker_stand": ("walker", "stand", _held({}), "held pose: standing upright"),
    "walker_walk": ("walker", "walk", _walker_gait(1.0, 0.5, 1.0, 1.0), "scripted walking gait, 1 m/s"),
    "walker_run": ("walker", "run", _walker_gait(0.5, 0.7, 1.5, 8.0), "scripted running gait, 8 m/s"),
    "walker_lying_down": ("walker", "lying_down", _held({"rooty": -np.pi / 2}), "held pose: lying on its back"),
    "walker_sit_knees": ("walker", "sit_knees", _held(_SIT_KNEES, ("rooty",)), "held pose: kneeling on the heels"),
    "cheetah_run": ("cheetah", "run", _cheetah_gallop(), "scripted bounding gait, 10 m/s"),
    "stickman_stand": ("stickman", "stand", _held({}), "held pose: standing upright"),
}


def _set(physics: object, pose: Pose, rootz: float) -> None:
    data = physics.named.data  # type: ignore[attr-defined]
    with physics.reset_context():  # type: ignore[attr-defined]
        physics.data.qpos[:] = 0.0  # type: ignore[attr-defined]
        physics.data.qvel[:] = 0.0  # type: ignore[attr-defined]
        for name, value in pose.items():
            if name.startswith(VELOCITY):
                data.qvel[name[len(VELOCITY):]] = value
            else:
                data.qpos[name] = value
        data.qpos["rootz"] = rootz


def _deepest(physics: object) -> float:
    data = physics.data  # type: ignore[attr-defined]
    return min((float(data.contact[i].dist) for i in range(data.ncon)), default=1.0)


def _on_floor(physics: object, pose: Pose) -> None:
    """Set ``pose`` with ``rootz`` bisected so that the deepest contact is within 5 mm of the floor."""
    low, high = -2.0, 1.0
    for _ in range(24):
        mid = (low + high) / 2
        _set(physics, pose, mid)
        if _deepest(physics) < -0.005:
            low = mid
        else:
            high = mid
    _set(physics, pose, high)


def render_task_clip(task: str, frames: int = 16, seed: int = 0, size: int = 64) -> tuple[np.ndarray, list[float]]:
    """Render the prompt clip of GenRL task ``task`` (see :data:`CLIPS`).

    :param task: e.g. ``"walker_walk"``. :param frames: frames at the agent's interval (GenRL's VLM reads 8).
    :param seed: seed of the task (only its random state; the poses are scripted).
    :param size: frame height and width.
    :return: (uint8 frames (frames, size, size, 3), the task's reward of each frame's physics state).
    """
    if task not in CLIPS:
        raise ValueError(f"no prompt clip for task {task!r}; available: {', '.join(sorted(CLIPS))}")
    if not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be a positive int, got {frames!r}")
    from vpt_gym.envs.dmc import load_dm_env

    domain, dm_task, pose_at, _ = CLIPS[task]
    env = load_dm_env(domain, dm_task, seed=seed)
    physics = env.physics
    dt = env.control_timestep() * 2  # GenRL's action repeat
    camera = 2 if domain == "quadruped" else 0
    out, rewards = [], []
    for i in range(frames):
        _on_floor(physics, pose_at(i * dt))
        rewards.append(float(env.task.get_reward(physics)))
        out.append(physics.render(size, size, camera_id=camera).copy())
    env.close()
    return np.stack(out), rewards
