"""The rendered prompt clips: every task's clip is a high-reward state sequence of that task (checked by the
simulator's own reward), motion clips move, pose clips hold still."""
import numpy as np
import pytest

from benchmarks.genrl_prompt_clips import CLIPS, render_task_clip


@pytest.mark.parametrize("task", sorted(CLIPS))
def test_every_clip_scores_high_on_its_own_task(task):
    frames, rewards = render_task_clip(task, frames=8)
    assert frames.shape == (8, 64, 64, 3) and frames.dtype == np.uint8
    assert np.mean(rewards) > 0.9 and min(rewards) > 0.6, rewards
    diffs = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    assert (diffs > 0).all()  # never one repeated image


def test_motion_clips_differ_more_than_pose_clips():
    def motion(task):
        frames, _ = render_task_clip(task, frames=8)
        return np.abs(np.diff(frames.astype(np.int16), axis=0)).mean()

    assert motion("walker_run") > motion("walker_walk") > 2 * motion("walker_stand")


def test_a_pose_clip_is_not_a_good_clip_of_another_task():
    """The stand clip scores low on lying down and vice versa (the clips really are different targets)."""
    from benchmarks import genrl_prompt_clips as clips

    stand = clips.CLIPS["walker_stand"]
    swapped = dict(clips.CLIPS, walker_lying_down=("walker", "lying_down", stand[2], stand[3]))
    original = clips.CLIPS
    try:
        clips.CLIPS = swapped
        assert np.mean(clips.render_task_clip("walker_lying_down", frames=2)[1]) < 0.3
    finally:
        clips.CLIPS = original


def test_unknown_task_and_bad_frames_are_refused():
    with pytest.raises(ValueError, match="no prompt clip for task 'walker_fly'"):
        render_task_clip("walker_fly")
    with pytest.raises(ValueError, match="frames must be a positive int"):
        render_task_clip("walker_stand", frames=0)
