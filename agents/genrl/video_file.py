"""Write decoded prompt videos (e.g. from :func:`agents.genrl.connector.decode_prompt`) to GIF or MP4.

GIF needs only ``imageio``; MP4 needs the ``imageio-ffmpeg`` plugin (``pip install imageio-ffmpeg``) and
raises a clear error without it.

Example::

    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "prompt.gif")
    >>> write_video(np.zeros((4, 64, 64, 3), np.uint8), path)
    PosixPath('...prompt.gif')
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vpt_gym.atomic_file import write_atomic


def write_video(frames: np.ndarray, path: str | os.PathLike, fps: int = 15) -> Path:
    """Write uint8 frames (T, H, W, 3) to ``path`` (.gif or .mp4), atomically.

    :param frames: uint8 array or tensor (T, H, W, 3); a leading batch dim of 1 is dropped.
    :param path: output file; its suffix picks the format.
    :param fps: frames per second (the reference writes 15).
    """
    frames = np.asarray(frames.cpu() if hasattr(frames, "cpu") else frames)
    if frames.ndim == 5 and frames.shape[0] == 1:
        frames = frames[0]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"unsupported video suffix {suffix!r}; expected '.gif' or '.mp4'")
    import imageio.v3 as iio

    if suffix == ".gif":
        write_atomic(path, lambda tmp: iio.imwrite(tmp, frames, extension=".gif", duration=1000 / fps, loop=0))
    else:
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError as err:
            raise ImportError("writing .mp4 needs imageio-ffmpeg: pip install imageio-ffmpeg (or write a .gif)") from err
        write_atomic(path, lambda tmp: iio.imwrite(tmp, frames, extension=".mp4", fps=fps, codec="libx264"))
    return path
