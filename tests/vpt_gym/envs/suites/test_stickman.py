"""The Stickman dm_control domain: model facts, every task, reward functions on hand-set poses."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vpt_gym.envs.suites import stickman

# qpos order of the model (13 DoF): planar root, then legs and arms.
JOINTS = (
    "rootz", "rootx", "rooty",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "left_shoulder", "left_elbow", "right_shoulder", "right_elbow",
)  # fmt: skip
ACTUATOR_GEARS = {
    "right_hip": 100, "right_knee": 50, "right_ankle": 20,
    "left_hip": 100, "left_knee": 50, "left_ankle": 20,
    "left_shoulder": 100, "left_elbow": 50, "right_shoulder": 100, "right_elbow": 50,
}  # fmt: skip
JOINT_RANGES_DEG = {
    "hip": (-20, 100), "knee": (-150, 0), "ankle": (-45, 45),
    "shoulder": (-20, 100), "elbow": (0, 150),
}  # fmt: skip

D = math.radians


@pytest.fixture(scope="module")
def physics() -> stickman.Physics:
    return stickman.Physics.from_xml_string(*stickman.get_model_and_assets())


def set_pose(physics: stickman.Physics, on_floor: bool = True, **joints: float) -> stickman.Physics:
    """Put the body in a pose (joint name -> angle/position, ``v_<joint>`` -> velocity), at rest.

    With ``on_floor`` the root is shifted so that the lowest point of any geom touches z = 0.
    """
    def apply(rootz_shift: float) -> None:
        with physics.reset_context():
            physics.data.qpos[:] = 0.0
            physics.data.qvel[:] = 0.0
            for name, value in joints.items():
                if name.startswith("v_"):
                    physics.named.data.qvel[name[2:]] = value
                else:
                    physics.named.data.qpos[name] = value
            physics.named.data.qpos["rootz"] += rootz_shift

    apply(0.0)
    if on_floor:
        apply(-_lowest_point(physics))
    return physics


def _lowest_point(physics: stickman.Physics) -> float:
    model, data = physics.model, physics.data
    lowest = math.inf
    for g in range(1, model.ngeom):  # geom 0 is the floor
        radius, centre = model.geom_size[g, 0], data.geom_xpos[g]
        reach = 0.0
        if model.geom_type[g] == 3:  # capsule: the end points of its axis
            reach = abs(model.geom_size[g, 1] * data.geom_xmat[g].reshape(3, 3)[2, 2])
        lowest = min(lowest, centre[2] - reach - radius)
    return lowest


def rewards_of(physics: stickman.Physics) -> dict[str, float]:
    return {goal: stickman.Stickman(goal).get_reward(physics) for goal in stickman.GOALS}


# --- the model ------------------------------------------------------------------------------------


def test_model_has_13_dof_10_motors_and_the_spec_gears(physics):
    model = physics.model
    assert (model.nq, model.nv, model.nu) == (13, 13, 10)
    assert tuple(model.id2name(j, "joint") for j in range(model.njnt)) == JOINTS
    gears = {model.id2name(a, "actuator"): model.actuator_gear[a, 0] for a in range(model.nu)}
    assert list(gears) == list(ACTUATOR_GEARS)  # the action order
    assert gears == ACTUATOR_GEARS
    np.testing.assert_array_equal(model.actuator_ctrlrange, np.tile([-1.0, 1.0], (10, 1)))
    assert model.opt.timestep == pytest.approx(0.0025)


def test_joint_ranges_damping_and_root(physics):
    model = physics.model
    for j in range(3):  # root joints: unlimited, undamped
        assert not model.jnt_limited[j] and model.dof_damping[j] == 0 and model.dof_armature[j] == 0
    for j in range(3, model.njnt):
        name = model.id2name(j, "joint")
        low, high = JOINT_RANGES_DEG[name.split("_")[1]]
        np.testing.assert_allclose(model.jnt_range[j], [D(low), D(high)])
        np.testing.assert_allclose(model.jnt_axis[j], [0, -1, 0])
        assert model.dof_damping[j] == pytest.approx(0.1)
        assert model.dof_armature[j] == pytest.approx(0.01)


def test_body_sizes_from_the_spec(physics):
    size = physics.named.model.geom_size
    expected = {
        "torso": (0.06, 0.25), "neck": (0.045, 0.045), "right_thigh": (0.05, 0.225),
        "left_leg": (0.04, 0.25), "right_foot": (0.04, 0.1), "left_arm": (0.04, 0.135),
        "right_forearm": (0.035, 0.15),
    }  # fmt: skip
    for geom, (radius, half_length) in expected.items():
        np.testing.assert_allclose(size[geom][:2], [radius, half_length])
    assert size["head"][0] == pytest.approx(0.10)
    assert size["left_hand"][0] == pytest.approx(0.05)
    set_pose(physics, on_floor=False)
    assert physics.torso_height() == pytest.approx(1.25)
    assert physics.named.data.xpos["neck", "z"] == pytest.approx(1.60)


def test_side_camera_renders_64x64(physics):
    set_pose(physics)
    assert physics.model.id2name(0, "camera") == "side"
    frame = physics.render(64, 64, camera_id=0)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8 and frame.std() > 0


# --- every task -----------------------------------------------------------------------------------


def test_suite_lists_the_13_spec_tasks():
    assert set(stickman.SUITE) == set(stickman.GOALS)
    assert len(stickman.GOALS) == 13
    assert set(stickman.SUITE.tagged("custom")) == set(stickman.GOALS)


def test_registered_in_dm_control_suite():
    from dm_control import suite

    env = suite.load("stickman", "hands_up", task_kwargs={"random": 0})
    assert isinstance(env.task, stickman.Stickman) and env.task.goal == "hands_up"


@pytest.mark.parametrize("task", stickman.GOALS)
def test_every_task_loads_and_steps_with_rewards_in_unit_interval(task):
    env = getattr(stickman, task)(random=0)
    assert env.control_timestep() == pytest.approx(0.025)
    assert env.physics.timestep() == pytest.approx(0.0025)
    assert env._step_limit == pytest.approx(1000)  # 25 s / 0.025 s
    time_step = env.reset()
    obs = time_step.observation
    assert obs["orientations"].shape == (30,)
    assert np.shape(obs["height"]) == ()
    assert obs["velocity"].shape == (13,)
    spec = env.action_spec()
    assert spec.shape == (10,)
    rng = np.random.default_rng(0)
    for _ in range(15):
        time_step = env.step(rng.uniform(-1, 1, spec.shape))
        assert np.isfinite(time_step.reward) and 0.0 <= time_step.reward <= 1.0


def test_time_limit_and_environment_kwargs_are_passed_on():
    env = stickman.walk(time_limit=0.1, random=0, environment_kwargs={"flat_observation": True})
    time_step = env.reset()
    assert time_step.observation["observations"].shape == (44,)
    steps = 0
    while not time_step.last():
        time_step = env.step(np.zeros(10))
        steps += 1
    assert steps == 4


def test_same_seed_same_episode_other_seed_other_start():
    def rollout(seed: int) -> tuple[np.ndarray, list[float]]:
        env = stickman.run(random=seed)
        env.reset()
        start = env.physics.data.qpos.copy()
        actions = np.random.default_rng(1).uniform(-1, 1, (30, 10))
        return start, [env.step(a).reward for a in actions] + list(env.physics.data.qpos)

    start_a, trace_a = rollout(7)
    start_b, trace_b = rollout(7)
    np.testing.assert_array_equal(start_a, start_b)
    assert trace_a == trace_b
    start_c, _ = rollout(8)
    assert not np.allclose(start_a, start_c)


def test_episode_start_randomises_limited_joints_within_range():
    env = stickman.stand(random=3)
    env.reset()
    model, qpos = env.physics.model, env.physics.data.qpos
    for j in range(3, model.njnt):
        assert model.jnt_range[j, 0] <= qpos[j] <= model.jnt_range[j, 1]


def test_unknown_goal_and_misused_quirk_flag_raise():
    with pytest.raises(ValueError, match="'dance'.*walk, run, stand"):
        stickman.Stickman("dance")
    with pytest.raises(ValueError, match="only to goal 'stand'"):
        stickman.Stickman("walk", reference_stand_quirk=True)


# --- rewards on hand-set poses -------------------------------------------------------------------


def test_upright_pose(physics):
    set_pose(physics)
    r = rewards_of(physics)
    assert r["stand"] == pytest.approx(1.0)
    # At rest the move term is 0: walk/run pay the standing part only, (0 * 5 + 1) / 6.
    assert r["walk"] == pytest.approx(1 / 6)
    assert r["run"] == pytest.approx(1 / 6)
    assert r["lying_down"] < 0.2
    assert r["one_foot"] < 0.01 and r["boxing"] < 1e-9 and r["hands_up"] < 0.1


def test_lying_pose_is_the_reverse_of_standing(physics):
    set_pose(physics, rooty=-math.pi / 2)  # flat on the back
    assert physics.torso_upright() == pytest.approx(0.0, abs=1e-9)
    r = rewards_of(physics)
    assert r["lying_down"] > 0.95
    assert r["stand"] < 0.13  # only the (1 + zz) / 2 = 0.5 upright half of a quarter is left
    assert r["walk"] < 0.03 and r["headstand"] < 0.01 and r["hands_up"] < 0.01


def test_walk_and_run_speed_ramps(physics):
    set_pose(physics, v_rootx=1.0)
    assert physics.horizontal_velocity() == pytest.approx(1.0)
    assert stickman.Stickman("walk").get_reward(physics) == pytest.approx(1.0)
    set_pose(physics, v_rootx=4.0)  # one margin (8 / 2) below the run speed: move = 0.5
    assert stickman.Stickman("run").get_reward(physics) == pytest.approx((5 * 0.5 + 1) / 6)
    set_pose(physics, v_rootx=8.0)
    assert stickman.Stickman("run").get_reward(physics) == pytest.approx(1.0)


def test_stand_ignores_drift_direction_unlike_the_reference_quirk(physics):
    fixed = stickman.Stickman("stand")
    quirk = stickman.Stickman("stand", reference_stand_quirk=True)
    set_pose(physics, v_rootx=-0.5)
    assert fixed.get_reward(physics) == pytest.approx(1.0)
    assert quirk.get_reward(physics) == pytest.approx(1 / 6)
    set_pose(physics, v_rootx=0.5)
    assert quirk.get_reward(physics) == pytest.approx(1.0)


def test_stand_quirk_is_reachable_through_dm_control_suite():
    from dm_control import suite

    env = suite.load("stickman", "stand", task_kwargs={"random": 0, "reference_stand_quirk": True})
    set_pose(env.physics, v_rootx=-0.5)
    assert env.task.get_reward(env.physics) == pytest.approx(1 / 6)


def test_hands_up_pose(physics):
    arms_up = {
        "left_shoulder": D(100), "left_elbow": D(80),
        "right_shoulder": D(100), "right_elbow": D(80),
    }  # fmt: skip
    set_pose(physics, **arms_up)
    assert physics.mean_height("hand") > 1.75
    r = rewards_of(physics)
    assert r["hands_up"] == pytest.approx(1.0)
    assert r["stand"] == pytest.approx(1.0)


def test_headstand_and_flipping(physics):
    set_pose(physics, rooty=math.pi)  # upside down on the head
    headstand = stickman.Stickman("headstand").get_reward(physics)
    assert headstand > 0.85
    assert stickman.Stickman("flipping").get_reward(physics) == pytest.approx(headstand / 6)
    for spin in (+60.0, -60.0):  # forward and backward flips count alike
        set_pose(physics, rooty=math.pi, v_rooty=spin)
        assert abs(physics.angular_momentum()) > 16
        assert stickman.Stickman("flipping").get_reward(physics) == pytest.approx(headstand)
    set_pose(physics)
    assert stickman.Stickman("headstand").get_reward(physics) < 0.45


def test_one_foot_and_high_kick(physics):
    set_pose(physics, left_hip=D(90))  # left thigh horizontal, foot at hip height
    r = rewards_of(physics)
    assert r["one_foot"] > 0.99
    assert r["high_kick"] > 0.9  # the foot (~1.0 m) is just under the 1.15 m kick height
    set_pose(physics)
    assert stickman.Stickman("high_kick").get_reward(physics) == pytest.approx(0.25, abs=1e-3)


def test_legs_up_pose(physics):
    set_pose(physics, rooty=-math.pi / 2, left_hip=D(90), right_hip=D(90))
    assert stickman.Stickman("legs_up").get_reward(physics) > 0.99
    set_pose(physics, rooty=-math.pi / 2)
    assert stickman.Stickman("legs_up").get_reward(physics) < 0.1


def test_kneeling_and_lunge_poses(physics):
    set_pose(physics, rooty=0.2, left_hip=0.95, right_hip=0.95, left_knee=-2.5, right_knee=-2.5)
    kneeling = rewards_of(physics)
    set_pose(physics, right_hip=D(90), right_knee=D(-90), left_knee=D(-90))
    lunge = rewards_of(physics)
    set_pose(physics)
    upright = rewards_of(physics)
    assert kneeling["sit_knees"] > 0.85 > upright["sit_knees"]
    assert lunge["lunge_pose"] > 0.8 and upright["lunge_pose"] < 0.3


def test_boxing_needs_a_fast_hand(physics):
    set_pose(physics, v_right_shoulder=20.0)  # hand 0.6 m from the shoulder: ~12 m/s
    assert physics.hand_speed() > 5
    assert stickman.Stickman("boxing").get_reward(physics) == pytest.approx(1.0)
    set_pose(physics)
    assert stickman.Stickman("boxing").get_reward(physics) == 0.0
    # Hand speed is linear in the shoulder's angular velocity: one margin (2.5 m/s) short of the
    # 5 m/s punch speed gives the linear ramp's value at the margin, 0.5.
    set_pose(physics, v_right_shoulder=1.0)
    omega = 2.5 / physics.hand_speed()
    set_pose(physics, v_right_shoulder=omega)
    assert stickman.Stickman("boxing").get_reward(physics) == pytest.approx(0.5)


# Rewards of GenRL's reference implementation (mazpie/genrl 4cd8394, envs/custom_dmc_tasks/
# stickman.py, run locally with dm_control 1.0.50 / mujoco 3.17.0) on four arbitrary states;
# "stand" there has the quirk.
REFERENCE_STATES = [
    (
        [-0.365, -0.857, -0.572, 0.898, 1.487, -1.073, -1.264, -0.958, -0.421, -0.991, 0.266, 0.35,
         -1.184],
        [0.293, 4.869, -8.259, -2.618, -7.747, -4.654, 5.418, -8.883, -3.205, 0.983, -4.011, -1.514,
         -1.331],
        {
            "walk": 0.689999430064227,
            "run": 0.5674480203975086,
            "stand": 0.689999430064227,
            "flipping": 0.38298417461960943,
            "one_foot": 0.007735065515621276,
            "high_kick": 0.6659233454020136,
            "lying_down": 0.022739996002770317,
            "legs_up": 0.039794993004269724,
            "sit_knees": 2.5674878626549248e-05,
            "lunge_pose": 0.6914849148507086,
            "headstand": 0.38298417461960943,
            "boxing": 0.689999430064227,
            "hands_up": 0.007986982066171955,
        },
    ),
    (
        [0.077, -0.098, -0.707, 1.167, -0.641, 0.821, -0.038, -0.096, 1.395, 1.195, -1.263, -0.764,
         -0.946],
        [-8.332, -12.589, 3.806, -6.992, 4.67, 11.089, -0.689, -6.76, 2.365, 4.57, -1.571, 0.105,
         8.012],
        {
            "walk": 0.16167320753634248,
            "run": 0.16167320753634248,
            "stand": 0.16167320753634248,
            "flipping": 0.6872287614805446,
            "one_foot": 2.9792636061439882e-05,
            "high_kick": 0.7500074481590153,
            "lying_down": 0.03424086260793719,
            "legs_up": 0.059921509563890085,
            "sit_knees": 1.101145559004421e-11,
            "lunge_pose": 0.45134530106503773,
            "headstand": 0.6872287614805446,
            "boxing": 0.970039245218055,
            "hands_up": 0.36138616671354795,
        },
    ),
    # Two states where a 10% change of any height/speed constant of the reference changes at least
    # one task's reward (found by perturbing the reference's constants).
    (
        [-0.661, -1.387, 1.782, -0.106, 1.397, -0.162, 1.271, -0.62, -1.074, -0.281, 1.033,
         1.402, 0.115],
        [0.498, 0.472, 0.061, 1.454, 0.323, -0.359, -2.839, -0.241, -0.25, -0.83, -0.82, 0.634,
         1.086],
        {
            "walk": 0.07162410632144788,
            "run": 0.03557925718169967,
            "stand": 0.18257995811327107,
            "flipping": 0.04790218429303714,
            "one_foot": 0.05153068006948928,
            "high_kick": 0.05384201545515653,
            "lying_down": 0.2281309176636448,
            "legs_up": 0.008656227757049637,
            "sit_knees": 0.15425964111121063,
            "lunge_pose": 0.45588673139191077,
            "headstand": 0.12296852321743365,
            "boxing": 0.040511075444289175,
            "hands_up": 0.00022323440960969216,
        },
    ),
    (
        [-0.823, -0.002, -2.245, -1.414, -1.056, 1.285, -1.289, -1.111, 1.345, 0.366, -0.393,
         0.034, 0.489],
        [2.474, -0.608, -0.458, 2.057, -2.611, -4.543, 1.185, -2.012, -5.761, -2.442, -1.403,
         -3.58, -4.477],
        {
            "walk": 0.011107620150041818,
            "run": 0.011107620150041818,
            "stand": 0.011107620150041818,
            "flipping": 0.025421106592391437,
            "one_foot": 4.357041113862185e-08,
            "high_kick": 0.012151864270284475,
            "lying_down": 0.3393968048042373,
            "legs_up": 1.9491155291394457e-09,
            "sit_knees": 0.43382441072820443,
            "lunge_pose": 0.066751838078828,
            "headstand": 0.08067945426131569,
            "boxing": 0.029069070725428952,
            "hands_up": 0.003479704857236237,
        },
    ),
]  # fmt: skip


@pytest.mark.parametrize("qpos, qvel, expected", REFERENCE_STATES)
def test_rewards_match_the_reference_implementation(physics, qpos, qvel, expected):
    with physics.reset_context():
        physics.data.qpos[:] = qpos
        physics.data.qvel[:] = qvel
    for goal, value in expected.items():
        quirk = goal == "stand"
        ours = stickman.Stickman(goal, reference_stand_quirk=quirk).get_reward(physics)
        assert ours == pytest.approx(value, rel=1e-9, abs=1e-15), goal
    # States drifting backwards (v_x < 0): the fixed stand reward is 6x the quirky one.
    if physics.horizontal_velocity() < 0:
        fixed = stickman.Stickman("stand").get_reward(physics)
        assert fixed == pytest.approx(6 * expected["stand"])
