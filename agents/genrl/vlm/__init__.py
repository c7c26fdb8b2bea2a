"""Vision-language model backends behind one interface (:class:`~agents.genrl.vlm.base.VLM`).

``load_vlm(name_or_path, **kw)`` picks a backend:

* ``clip``: CLIP through ``transformers`` (default ``openai/clip-vit-base-patch32``); k = 1, text.
* ``siglip``: SigLIP through ``transformers`` (default ``google/siglip-base-patch16-224``); k = 1, text.
* ``xclip``: X-CLIP video model (default ``microsoft/xclip-base-patch32``); k = 8, text.
* ``internvideo2``: GenRL's own VLM, InternVideo2-Stage2 1B (gated checkpoint ``InternVideo2-stage2_1b-224p-f4.pt``
  + the ``bert-large-uncased`` tokenizer, default ``models/``); k = 8, text, 512-d.
* ``random-features``: OFFLINE STAND-IN, seeded random video features (``is_stand_in``); k = 8, no text.

Image models (k = 1) also embed longer clips by averaging their frames' embeddings.

A name may carry its source after a colon (``"clip:/models/clip-b32"``, ``"siglip:google/siglip-base-patch16-224"``),
or pass ``source=...``; a bare directory is recognised by its ``config.json``'s ``model_type``. Sources are
local directories or hub ids already in the Hugging Face cache; nothing is downloaded (``internvideo2``'s
source is its checkpoint file or the folder holding it). InternVid's ViCLIP is not available: see
:data:`UNAVAILABLE`.

Example::

    >>> vlm = load_vlm("random-features", dim=8)
    >>> vlm.is_stand_in, vlm.has_text
    (True, False)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from agents.genrl.vlm.base import VLM, MissingWeightsError, NoTextTowerError, prompt_clip, read_json


def _internvideo2(**kw: Any) -> VLM:
    from agents.genrl.vlm.internvideo2 import InternVideo2Backend

    return InternVideo2Backend(**kw)


def _random_features(**kw: Any) -> VLM:
    from agents.genrl.vlm.random_features import RandomFeatureVLM

    if "source" in kw:
        raise ValueError(
            f"random-features has no weights to load (got source={kw['source']!r}); "
            "it takes dim, n_frames, resolution, seed, motion_gain, device"
        )
    return RandomFeatureVLM(**kw)


def _clip(**kw: Any) -> VLM:
    from agents.genrl.vlm.clip import CLIPBackend

    return CLIPBackend(**kw)


def _siglip(**kw: Any) -> VLM:
    from agents.genrl.vlm.siglip import SiglipBackend

    return SiglipBackend(**kw)


def _xclip(**kw: Any) -> VLM:
    from agents.genrl.vlm.xclip import XCLIPBackend

    return XCLIPBackend(**kw)


#: name -> factory(**kwargs).
BACKENDS: dict[str, Callable[..., VLM]] = {
    "clip": _clip,
    "siglip": _siglip,
    "xclip": _xclip,
    "internvideo2": _internvideo2,
    "random-features": _random_features,
}

#: ``config.json`` ``model_type`` -> backend name, for bare directories.
MODEL_TYPES = {"clip": "clip", "siglip": "siglip", "xclip": "xclip"}

#: names users may expect that cannot be loaded yet, with the reason.
UNAVAILABLE = {
    "viclip": (
        "InternVid's ViCLIP (OpenGVLab/ViCLIP) is not supported. GenRL's released models use InternVideo2: "
        "load_vlm('internvideo2', source='models/InternVideo2-stage2_1b-224p-f4.pt')."
    ),
}


def available_vlms() -> list[str]:
    """Registered backend names."""
    return sorted(BACKENDS)


def load_vlm(name_or_path: str | os.PathLike, **kwargs: Any) -> VLM:
    """Build a VLM backend by name (``"clip"``, ``"clip:<source>"``) or from a model directory.

    :param name_or_path: a registered name, ``name:source``, or a directory with a ``config.json``.
    :param kwargs: backend arguments (``source``, ``device``; for random-features ``dim``, ``n_frames``,
        ``resolution``, ``seed``).
    :raises ValueError: for unknown names (the message lists the known ones).
    :raises MissingWeightsError: when the weights are not on this machine (the message lists the files).
    """
    text = str(name_or_path)
    name, _, source = text.partition(":")
    key = name.lower()
    if key in BACKENDS:
        if source:
            if "source" in kwargs:
                raise ValueError(f"source given twice: {text!r} and source={kwargs['source']!r}")
            kwargs["source"] = source
        return BACKENDS[key](**kwargs)
    if key in UNAVAILABLE:
        raise ValueError(f"VLM {name!r} is not available: {UNAVAILABLE[key]}")
    path = Path(text).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        model_type = read_json(path / "config.json").get("model_type")
        if model_type not in MODEL_TYPES:
            raise ValueError(
                f"{path}: model_type {model_type!r} is not supported; supported: {sorted(MODEL_TYPES)}"
            )
        return BACKENDS[MODEL_TYPES[model_type]](source=str(path), **kwargs)
    raise ValueError(
        f"unknown VLM {text!r}: expected one of {available_vlms()} (optionally 'name:<directory or hub id>') "
        "or a model directory with a config.json"
    )


__all__ = ["VLM", "BACKENDS", "UNAVAILABLE", "MissingWeightsError", "NoTextTowerError", "available_vlms",
           "load_vlm", "prompt_clip"]
