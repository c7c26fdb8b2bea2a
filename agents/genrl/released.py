"""GenRL's released checkpoints on the Hugging Face Hub (``mazpie/genrl_models``, spec section 8), fetched by
name with ``huggingface_hub`` and loaded without running any of their code (:mod:`agents.genrl.official`).

The spec confirms two files, each with the first 8 hex digits of its sha256 (checked after download):
``genrl_walker_500k_2.pt`` (9c223e37...) and ``genrl_stickman_500k_2.pt`` (ab9e0468...). Other domains probably
follow the pattern ``genrl_<domain>_500k_2.pt`` but are not confirmed: pass the file name itself (and a
``sha256=`` if you know one). The files (239 MB each) go to the Hub cache (``$HF_HUB_CACHE``, default
``~/.cache/huggingface/hub``); with ``HF_HUB_OFFLINE=1`` only the cache is read.

Example (needs network access or the file in the Hub cache)::

    from agents.genrl.released import load_released_genrl
    official = load_released_genrl("walker")      # hf_hub_download("mazpie/genrl_models", "genrl_walker_500k_2.pt")
    official.world_model, official.connector
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from agents.checkpoints import PathLike
from agents.hub import download_file

#: the Hub repository of the released GenRL models.
RELEASED_REPO = "mazpie/genrl_models"


@dataclass(frozen=True)
class ReleasedGenRL:
    """A released GenRL file: its name in :data:`RELEASED_REPO` and the sha256 prefix the spec records."""

    filename: str
    sha256_prefix: str


#: the released files the spec confirms (section 8), by domain.
RELEASED_GENRL: dict[str, ReleasedGenRL] = {
    "walker": ReleasedGenRL("genrl_walker_500k_2.pt", "9c223e37"),
    "stickman": ReleasedGenRL("genrl_stickman_500k_2.pt", "ab9e0468"),
}


def fetch_official_genrl(
    name: str,
    *,
    repo_id: str = RELEASED_REPO,
    revision: Optional[str] = None,
    cache_dir: PathLike | None = None,
    sha256: Optional[str] = None,
) -> Path:
    """The local path of a released GenRL checkpoint, downloaded with ``hf_hub_download`` if needed.

    :param name: a domain of :data:`RELEASED_GENRL` (``"walker"``, ``"stickman"``), or a ``.pt`` file name in
        the repo (e.g. ``"genrl_cheetah_500k_2.pt"``, not confirmed by the spec: no built-in hash).
    :param repo_id: the Hub repo (default :data:`RELEASED_REPO`).
    :param revision: a branch, tag or commit. :param cache_dir: the Hub cache (default ``$HF_HUB_CACHE``).
    :param sha256: the expected sha256 (or a prefix); default: the spec's prefix for a confirmed name.
    :raises FileNotFoundError: not cached and not downloadable (the message gives the ``hf download`` command).
    :raises ValueError: unknown name, or a sha256 mismatch (the bad file is removed from the cache).
    """
    if name in RELEASED_GENRL:
        entry = RELEASED_GENRL[name]
        filename, expected = entry.filename, sha256 or entry.sha256_prefix
    elif isinstance(name, str) and name.endswith(".pt") and "/" not in name:
        filename, expected = name, sha256
    else:
        raise ValueError(f"unknown released GenRL model {str(name)[:100]!r}: use one of {sorted(RELEASED_GENRL)} "
                         f"or a .pt file name of {repo_id} (e.g. 'genrl_cheetah_500k_2.pt')")
    return download_file(repo_id, filename, revision=revision, cache_dir=cache_dir, sha256=expected)


def load_released_genrl(name: str, *, stoch: Optional[int] = None, classes: Optional[int] = None,
                        **fetch: Any) -> Any:
    """:func:`fetch_official_genrl` then :func:`agents.genrl.official.load_official_genrl`: our world model and
    connector from a released checkpoint. ``fetch`` goes to :func:`fetch_official_genrl`."""
    from agents.genrl.official import load_official_genrl

    return load_official_genrl(fetch_official_genrl(name, **fetch), stoch=stoch, classes=classes)
