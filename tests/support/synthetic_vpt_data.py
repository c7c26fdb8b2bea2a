"""Synthetic contractor data where the action is visible in the frames, written with the package's
:class:`agents.vpt.contractor.ContractorWriter` (so it goes through the same code as real data).

The "world" is a textured pattern seen through a moving window: the camera action at step t moves
the window by a whole number of pixels (pitch -> rows, yaw -> columns), and ``attack`` at step t paints a
red square in the centre of frame t + 1. Camera angles are the centres of the mu-law bins
{0, 2, 5, 8, 10} (-10, -3.215, 0, 3.215, 10 degrees), so each bin gives a distinct shift; actions are
held for 1-4 steps, like a player's.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from agents.vpt.contractor import ContractorWriter
from vpt_gym.actions import CameraQuantizer

#: Camera bins used (per axis) and their angles in degrees.
CAMERA_BINS = np.array([0, 2, 5, 8, 10])
CAMERA_DEGREES = CameraQuantizer().undiscretize(CAMERA_BINS)
#: Pixels of window motion per degree (at the written frame size).
PIXELS_PER_DEGREE = 0.8


def texture(rng: np.random.Generator, size: int = 256, period: int = 32) -> np.ndarray:
    """An RGB world (size, size, 3) uint8: red is a sawtooth ramp along x and green along y (period
    ``period`` pixels, so a shift changes most pixels by a uniform amount: motion a small network can
    read), blue a smooth random texture."""
    ramp = (np.arange(size) % period) * (255 // (period - 1))
    coarse = rng.integers(0, 256, (size // 8, size // 8)).astype(np.uint8)
    world = np.empty((size, size, 3), np.uint8)
    world[..., 0] = ramp[None, :]
    world[..., 1] = ramp[:, None]
    world[..., 2] = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return world


def synthetic_actions(n: int, rng: np.random.Generator, attack_p: float = 0.4) -> list[dict]:
    """``n`` env actions: camera angles from :data:`CAMERA_DEGREES`, attack, held for 1-4 steps."""
    actions: list[dict] = []
    while len(actions) < n:
        pitch, yaw = rng.choice(CAMERA_DEGREES, 2)
        attack = int(rng.random() < attack_p)
        for _ in range(int(rng.integers(1, 5))):
            actions.append({"attack": attack, "camera": [float(pitch), float(yaw)]})
    return actions[:n]


def render(world: np.ndarray, actions: list[dict], frame_size: int = 64) -> np.ndarray:
    """Frames (n, frame_size, frame_size, 3): frame t+1 shows the window moved by action t."""
    size = world.shape[0]
    y = x = 0
    frames = []
    previous_attack = 0
    for action in actions:
        rows = (np.arange(frame_size) + y) % size
        cols = (np.arange(frame_size) + x) % size
        frame = world[rows][:, cols].copy()
        if previous_attack:
            c, h = frame_size // 2, frame_size // 6
            frame[c - h : c + h, c - h : c + h] = (255, 0, 0)
        frames.append(frame)
        pitch, yaw = action["camera"]
        y += int(round(pitch * PIXELS_PER_DEGREE))
        x += int(round(yaw * PIXELS_PER_DEGREE))
        previous_attack = action["attack"]
    return np.stack(frames)


def write_synthetic_pair(
    root: Path, name: str, n: int, seed: int, frame_size: int = 64
) -> tuple[Path, list[dict]]:
    """Write ``<root>/<name>.mp4/.jsonl`` with ``n`` steps; returns the stem and the true env actions."""
    rng = np.random.default_rng(seed)
    actions = synthetic_actions(n, rng)
    frames = render(texture(rng), actions, frame_size)
    root.mkdir(parents=True, exist_ok=True)
    with ContractorWriter(root / name) as writer:
        for frame, action in zip(frames, actions):
            writer.write(frame, action)
    return root / name, actions


def write_synthetic_dataset(root: Path, n_videos: int, n_frames: int, seed: int = 0, frame_size: int = 64) -> dict:
    """``n_videos`` synthetic pairs under ``root``; returns ``{name: true env actions}``."""
    return {
        f"video{i:02d}": write_synthetic_pair(root, f"video{i:02d}", n_frames, seed * 1000 + i, frame_size)[1]
        for i in range(n_videos)
    }
