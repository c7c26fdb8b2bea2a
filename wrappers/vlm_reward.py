"""VLM-similarity reward (GenRL's baselines) and prompt handling shared by the prompt-reward wrappers.

:class:`VLMReward` rewards each step with the cosine similarity between the VLM embedding of the last ``k``
frames and the prompt's embedding: ``k=1`` is the image-language baseline, ``k=n_frames`` (8) the
video-language one (paper section 5, "WM-CLIP"-free baselines). Like the reference's ``ViClipWrapper``, the
clip embedding is the zero vector until ``k`` frames of the episode have been seen (reward 0 for the first
``k - 1`` observations); ``padding="repeat"`` instead pads the clip with the episode's first frame. A
one-frame clip is repeated ``n_frames`` times before embedding (the reference's rule for image prompts).

Prompts (:func:`prompt_embedding`) are text, a video file (``.gif`` read with imageio, ``.mp4``/``.avi``/
``.mov``/``.webm`` with OpenCV, BGR converted to RGB as the reference does) or a uint8 frame array
(T, H, W, 3). Video prompts follow the reference's ``get_video_feat``: 1 frame -> each repeated 8x, 4 frames
-> each repeated 2x, subsample with stride max(1, T // 128), keep the first ``n_frames``
(:func:`agents.genrl.vlm.base.prompt_clip`). Anything else shorter than ``n_frames`` is an error, as are empty or over-long text, non-uint8 or non-RGB frames, and text
given to a VLM without a text tower.

Example::

    >>> import numpy as np
    >>> from vpt_gym.envs.dmc import make
    >>> from agents.genrl.vlm import load_vlm
    >>> env = make("walker", "stand", seed=0, render_quality="fast")
    >>> prompt = np.stack([env.reset(seed=0)[0]] * 8)  # a (static) 8-frame video prompt
    >>> env = VLMReward(env, load_vlm("random-features"), prompt, k=8)
    >>> obs, info = env.reset(seed=0)
    >>> _, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> reward, "task_reward" in info  # 0 until 8 frames were seen (the reference's zero padding)
    (0.0, True)
"""
from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Any, Literal, Protocol, Sequence, SupportsFloat, Union

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from vpt_gym.prompt_text import has_visible_text

#: The reference's text tokenizer pads/truncates to 40 tokens ([CLS] + 38 + [SEP]); every word is at least
#: one token, so a longer prompt would be silently cut by the reference. We refuse it instead.
MAX_TEXT_WORDS = 38
MAX_TEXT_CHARS = 512
#: Longest video prompt accepted (frames); the reference subsamples long clips to ~128 and keeps 8.
MAX_VIDEO_FRAMES = 100_000
VIDEO_SUFFIXES = (".gif", ".mp4", ".avi", ".mov", ".webm", ".mkv")

Prompt = Union[str, os.PathLike, np.ndarray, torch.Tensor]


class VLM(Protocol):
    """The vision-language model interface of ``agents.genrl.vlm.base``."""

    n_frames: int
    dim: int
    has_text: bool
    is_stand_in: bool

    def embed_video(self, frames: np.ndarray) -> torch.Tensor: ...

    def embed_text(self, prompts: Sequence[str]) -> torch.Tensor: ...


def check_text_prompt(text: str) -> str:
    """Strip and validate a text prompt (non-empty, at most 38 words and 512 characters)."""
    if not isinstance(text, str):
        raise TypeError(f"text prompt must be a str, got {type(text).__name__}")
    stripped = " ".join(text.split())
    if not has_visible_text(stripped):
        raise ValueError("the text prompt is empty (only whitespace, zero-width or control characters); give a "
                         "task description such as 'walk fast clean'")
    words = len(stripped.split())
    if words > MAX_TEXT_WORDS or len(stripped) > MAX_TEXT_CHARS:
        raise ValueError(
            f"the text prompt is too long ({words} words, {len(stripped)} characters); the VLM's text encoder "
            f"reads at most 40 tokens, so keep it to {MAX_TEXT_WORDS} words / {MAX_TEXT_CHARS} characters"
        )
    return stripped


def read_video(path: str | os.PathLike) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 RGB of a video file (.gif via imageio; other formats via OpenCV)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video prompt file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"unsupported video prompt format {suffix!r}; expected one of {VIDEO_SUFFIXES}")
    if suffix == ".gif":
        import imageio.v3 as iio

        try:
            frames = np.asarray(iio.imread(path, index=None))
        except Exception as err:  # imageio raises plugin-specific errors
            raise ValueError(f"cannot read video prompt {path}: {err}") from err
        if frames.ndim == 3:  # a single-frame GIF
            frames = frames[None]
        if frames.ndim == 4 and frames.shape[-1] == 4:  # RGBA palette frames
            frames = frames[..., :3]
        return np.ascontiguousarray(frames)
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames_list = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames_list.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames_list:
        raise ValueError(f"cannot read any frame from video prompt {path} (corrupt file or missing codec)")
    return np.stack(frames_list)


def video_clip(frames: np.ndarray | torch.Tensor, n_frames: int = 8) -> np.ndarray:
    """The ``n_frames`` clip (n_frames, H, W, 3) the reference embeds for a video prompt (see module doc).

    :raises ValueError: wrong dtype, shape or length.
    """
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"video prompt frames must be uint8, got {frames.dtype}")
    if frames.ndim == 3 and frames.shape[-1] == 3:
        frames = frames[None]  # one image
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"video prompt must be (T, H, W, 3) RGB frames, got shape {frames.shape}")
    t = frames.shape[0]
    if t == 0:
        raise ValueError("video prompt has no frames")
    if t > MAX_VIDEO_FRAMES:
        raise ValueError(f"video prompt is too long ({t} frames); at most {MAX_VIDEO_FRAMES}")
    from agents.genrl.vlm.base import prompt_clip  # the one implementation of the reference's clip rules

    return prompt_clip(frames, n_frames)


def is_video_path(prompt: Any) -> bool:
    """Whether a prompt names a video file (a path object, or a string ending in a video suffix)."""
    if isinstance(prompt, os.PathLike):
        return True
    return isinstance(prompt, str) and prompt.strip().lower().endswith(VIDEO_SUFFIXES)


def check_prompt(prompt: Prompt, vlm: VLM) -> tuple[str, Any]:
    """Validate a prompt against a VLM before anything runs.

    :return: ("text", cleaned text) or ("video", clip (n_frames, H, W, 3) uint8).
    """
    if isinstance(prompt, (np.ndarray, torch.Tensor)):
        return "video", video_clip(prompt, vlm.n_frames)
    if is_video_path(prompt):
        return "video", video_clip(read_video(prompt), vlm.n_frames)
    if isinstance(prompt, str):
        text = check_text_prompt(prompt)
        if not getattr(vlm, "has_text", False):
            raise ValueError(
                f"the VLM {getattr(vlm, 'name', type(vlm).__name__)!r} has no text encoder (a stand-in such as "
                f"'random-features' embeds video only); give the prompt as a video file or frame array"
            )
        return "text", text
    raise TypeError(f"prompt must be text, a video path or a uint8 frame array, got {type(prompt).__name__}")


def prompt_embedding(vlm: VLM, prompt: Prompt) -> torch.Tensor:
    """The unit embedding (D,) of a text or video prompt."""
    kind, value = check_prompt(prompt, vlm)
    with torch.no_grad():
        e = vlm.embed_text([value]) if kind == "text" else vlm.embed_video(value[None])
    e = torch.as_tensor(e, dtype=torch.float32).reshape(-1)
    if e.shape[0] != vlm.dim or not torch.isfinite(e).all():
        raise ValueError(f"the VLM returned an invalid embedding of shape {tuple(e.shape)} (expected ({vlm.dim},))")
    return F.normalize(e, dim=0)


def frame_of(observation: Any) -> np.ndarray:
    """An (H, W, 3) uint8 frame from an HWC or CHW uint8 observation."""
    obs = np.asarray(observation)
    if obs.dtype != np.uint8 or obs.ndim != 3:
        raise ValueError(f"pixel observations must be uint8 (H, W, 3) or (3, H, W), got {obs.dtype} {obs.shape}")
    if obs.shape[-1] == 3:
        return obs
    if obs.shape[0] == 3:
        return np.ascontiguousarray(obs.transpose(1, 2, 0))
    raise ValueError(f"pixel observations must be (H, W, 3) or (3, H, W), got {obs.shape}")


class VLMReward(gym.Wrapper):
    """Reward = cos(VLM(last k frames), VLM(prompt)); the env's reward is kept in ``info["task_reward"]``.

    :param env: an env with uint8 RGB pixel observations, HWC or CHW.
    :param vlm: a VLM (``agents.genrl.vlm.load_vlm(name)``, or any object with its interface).
    :param prompt: text, a video file path or uint8 frames (T, H, W, 3).
    :param k: frames per clip: 1 (image-language baseline) or ``vlm.n_frames`` (video-language baseline).
    :param padding: ``"zeros"`` (reference: zero embedding, reward 0, until k frames were seen) or
        ``"repeat"`` (pad the clip with the episode's first frame).
    """

    def __init__(self, env: gym.Env, vlm: VLM, prompt: Prompt, k: int = 1,
                 padding: Literal["zeros", "repeat"] = "zeros") -> None:
        if k not in (1, vlm.n_frames):
            raise ValueError(f"k must be 1 or the VLM's clip length {vlm.n_frames}, got {k!r}")
        if padding not in ("zeros", "repeat"):
            raise ValueError(f"padding must be 'zeros' or 'repeat', got {padding!r}")
        space = env.observation_space
        shape = getattr(space, "shape", None)
        if shape is None or len(shape) != 3 or 3 not in (shape[0], shape[-1]) or space.dtype != np.uint8:
            raise ValueError(f"VLMReward needs uint8 RGB image observations, got observation space {space}")
        super().__init__(env)
        self.vlm, self.k, self.padding = vlm, k, padding
        self.prompt_embedding = prompt_embedding(vlm, prompt)
        self._frames: deque[np.ndarray] = deque(maxlen=k)

    def _reward(self) -> float:
        frames = list(self._frames)
        if len(frames) < self.k:
            if self.padding == "zeros":
                return 0.0
            frames = [frames[0]] * (self.k - len(frames)) + frames
        clip = np.stack(frames)
        if self.k == 1:
            clip = np.repeat(clip, self.vlm.n_frames, axis=0)
        with torch.no_grad():
            e = torch.as_tensor(self.vlm.embed_video(clip[None]), dtype=torch.float32).reshape(-1)
        return float(F.cosine_similarity(e, self.prompt_embedding, dim=0))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._frames.clear()
        self._frames.append(frame_of(obs))
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, task_reward, terminated, truncated, info = self.env.step(action)
        self._frames.append(frame_of(obs))
        info = dict(info)
        info["task_reward"] = float(task_reward)
        return obs, self._reward(), terminated, truncated, info
