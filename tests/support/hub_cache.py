"""Put a folder into a Hugging Face Hub cache the way ``huggingface_hub`` lays out a download
(``models--owner--name/{blobs,refs/main,snapshots/<commit>/...}``), and a fake ``HfApi`` that records uploads,
so that Hub code paths are tested offline (``HF_HUB_OFFLINE=1``) with no network."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def put_in_hub_cache(cache: Path, repo_id: str, folder: Path, commit: str = COMMIT) -> Path:
    """Copy ``folder``'s files into ``cache`` as the snapshot ``commit`` of ``repo_id`` (branch ``main``):
    blobs named by their sha256, snapshot entries as symlinks to them. Returns the snapshot folder."""
    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    for src in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        data = src.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        entry = snapshot / src.relative_to(folder)
        entry.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, entry.parent), entry)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


@dataclass
class FakeHfApi:
    """Records ``create_repo`` and ``upload_folder`` calls (keyword arguments) and keeps a copy of every
    uploaded folder in ``uploads[repo_id]`` (the caller may delete its folder afterwards)."""

    root: Path
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    uploads: dict[str, Path] = field(default_factory=dict)

    def create_repo(self, repo_id: str, **kwargs: Any) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs: Any) -> Any:
        self.calls.append(("upload_folder", dict(kwargs)))
        copy = Path(self.root) / kwargs["repo_id"].replace("/", "--")
        shutil.copytree(kwargs["folder_path"], copy, dirs_exist_ok=True)
        self.uploads[kwargs["repo_id"]] = copy

        class CommitInfo:
            commit_url = f"https://huggingface.co/{kwargs['repo_id']}/commit/{'1' * 40}"

        return CommitInfo()


def offline_hub_cache(monkeypatch: Any, cache: Path) -> Path:
    """Switch the Hub client offline (``HF_HUB_OFFLINE=1``, also in its already-imported constants) and
    point its cache at ``cache``; returns ``cache``."""
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    Path(cache).mkdir(parents=True, exist_ok=True)
    return Path(cache)
