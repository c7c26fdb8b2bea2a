"""``from_pretrained`` / ``save_pretrained`` / ``push_to_hub`` methods shared by :class:`~agents.vpt.policy.VPTPolicyNet`
and :class:`~agents.vpt.idm.IDMNetwork` (the work is done by :mod:`agents.vpt.io`).

Example::

    >>> import tempfile
    >>> from agents.model_card import ModelCardInfo
    >>> from agents.vpt.policy import VPTPolicyNet
    >>> folder = VPTPolicyNet("tiny").save_pretrained(tempfile.mkdtemp(), ModelCardInfo(task="a test"))
    >>> sorted(p.name for p in folder.iterdir())
    ['README.md', 'config.json', 'model.safetensors']
    >>> type(VPTPolicyNet.from_pretrained(str(folder))).__name__
    'VPTPolicyNet'
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from agents.checkpoints import PathLike
from agents.model_card import ModelCardInfo

T = TypeVar("T", bound="PretrainedMixin")


class PretrainedMixin:
    """Hub-style loading and saving for VPT networks (safetensors + JSON + model card)."""

    @classmethod
    def from_pretrained(
        cls: type[T],
        name_or_path: str | PathLike,
        cache_dir: PathLike | None = None,
        device: str | torch.device = "cpu",
        *,
        revision: str | None = None,
        sha256: Mapping[str, str] | None = None,
    ) -> T:
        """Load a released name (e.g. ``"foundation-model-1x"``), a saved folder, an official
        ``.model``/``.weights`` pair, or a Hub repo id ``"owner/name"`` (see :func:`agents.vpt.io.from_pretrained`).

        :raises ValueError: the checkpoint holds the other kind of network (a policy, not an IDM, or back).
        """
        from agents.vpt.io import from_pretrained

        net = from_pretrained(name_or_path, cache_dir=cache_dir, device=device, revision=revision, sha256=sha256)
        if not isinstance(net, cls):
            raise ValueError(f"{str(name_or_path)!r} holds a {type(net).__name__}, not a {cls.__name__}")
        return net

    def save_pretrained(self, directory: PathLike, card: ModelCardInfo | None = None,
                        repo_id: str | None = None) -> Path:
        """Write ``config.json`` + ``model.safetensors`` + ``README.md`` (the model card) into ``directory``."""
        from agents.vpt.io import save_pretrained

        return save_pretrained(self, directory, card, repo_id)  # type: ignore[arg-type]

    def push_to_hub(self, repo_id: str, card: ModelCardInfo | None = None, *, private: bool | None = None,
                    token: str | None = None, commit_message: str | None = None, api: Any = None) -> str:
        """Upload this network to the Hub repo ``repo_id`` (created if needed); returns the commit URL.

        :param card: the model card's task, training settings and evaluation results.
        :param api: an ``huggingface_hub.HfApi`` (default: one with ``token``).
        """
        from agents.vpt.io import push_to_hub

        return push_to_hub(self, repo_id, card, private=private, token=token,  # type: ignore[arg-type]
                           commit_message=commit_message, api=api)
