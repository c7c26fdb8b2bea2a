"""agents.hub: local folders, Hub repos read from a local cache with the client offline (HF_HUB_OFFLINE=1,
no network), clear errors naming the files and the `hf download` command, sha256 checks, and pushes
checked through a fake HfApi."""

from __future__ import annotations

import hashlib
import sys
import time

import pytest

pytest.importorskip("huggingface_hub")

from agents import hub  # noqa: E402
from agents.model_card import ModelCardInfo  # noqa: E402
from tests.support.hub_cache import FakeHfApi, offline_hub_cache, put_in_hub_cache  # noqa: E402


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.delenv("VPT_GYM_OFFLINE", raising=False)
    return offline_hub_cache(monkeypatch, tmp_path / "hub-cache")


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text('{"a": 1}')
    (d / "model.safetensors").write_bytes(b"weights" * 10)
    return d


def test_repo_ids_are_told_from_paths(tmp_path, monkeypatch):
    assert hub.is_repo_id("mazpie/genrl_models") and hub.is_repo_id("me/vpt-1x.v2")
    for text in ("genrl_models", "a/b/c", "/abs/path", "../x", "a/..", "", None, 3, "a b/c"):
        assert not hub.is_repo_id(text), text
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "wm").mkdir(parents=True)
    assert not hub.is_repo_id("runs/wm")  # an existing local path wins


def test_local_folder_is_returned_and_checked(folder):
    assert hub.download_folder(folder, ["config.json"]) == folder
    with pytest.raises(FileNotFoundError, match="lacks README.md"):
        hub.download_folder(folder, ["config.json", "README.md"])
    with pytest.raises(FileNotFoundError, match="is a file"):
        hub.download_folder(folder / "config.json")
    with pytest.raises(FileNotFoundError, match="neither a local folder nor a Hub repo id"):
        hub.download_folder(folder / "nothing" / "here")


def test_offline_repo_from_the_cache(cache, folder):
    snapshot = put_in_hub_cache(cache, "me/model", folder)
    got = hub.download_folder("me/model", ["config.json", "model.safetensors"])
    assert got == snapshot and (got / "config.json").read_text() == '{"a": 1}'
    assert hub.download_file("me/model", "config.json") == snapshot / "config.json"


def test_offline_missing_repo_names_files_command_and_cache_and_leaves_nothing(cache):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        hub.download_folder("me/absent", ["config.json", "model.safetensors"])
    assert time.perf_counter() - start < 2.0
    msg = str(err.value)
    assert "downloads are off (HF_HUB_OFFLINE=1)" in msg
    assert "`hf download me/absent config.json model.safetensors`" in msg and str(cache) in msg
    assert "huggingface-cli" not in msg
    with pytest.raises(FileNotFoundError, match="hf download me/absent w.pt --revision v1"):
        hub.download_file("me/absent", "w.pt", revision="v1")
    assert list(cache.iterdir()) == []  # no empty cache entries


def test_vpt_gym_offline_switch_also_stops_downloads(tmp_path, monkeypatch, folder):
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("VPT_GYM_OFFLINE", "1")
    assert hub.offline()
    with pytest.raises(FileNotFoundError, match="VPT_GYM_OFFLINE=1"):
        hub.download_folder("me/absent", ["x"])  # local_files_only: no request was made
    put_in_hub_cache(tmp_path / "c", "me/model", folder)
    assert hub.download_folder("me/model", ["config.json"]).is_dir()


def test_sha256_of_a_downloaded_file_is_checked_and_a_bad_file_removed(cache, folder):
    snapshot = put_in_hub_cache(cache, "me/model", folder)
    good = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert hub.download_file("me/model", "model.safetensors", sha256=good[:8]).is_file()
    blob = (snapshot / "model.safetensors").resolve()
    with pytest.raises(ValueError, match="sha256 is .* expected 0000.*removed from the cache"):
        hub.download_file("me/model", "model.safetensors", sha256="0000")
    assert not blob.exists() and not (snapshot / "model.safetensors").is_symlink()
    with pytest.raises(ValueError, match="hex digits"):
        hub.download_file("me/model", "config.json", sha256="not-hex")


def test_push_uploads_the_folder_with_its_card(tmp_path, folder, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("VPT_GYM_OFFLINE", raising=False)
    api = FakeHfApi(tmp_path / "remote")
    with pytest.raises(FileNotFoundError, match="no README.md"):
        hub.push_folder_to_hub(folder, "me/model", api=api)
    assert api.calls == []
    url = hub.push_folder_to_hub(folder, "me/model", ModelCardInfo(task="testing"), private=True, api=api,
                                 commit_message="first")
    assert url.startswith("https://huggingface.co/me/model/commit/")
    assert api.calls == [
        ("create_repo", {"repo_id": "me/model", "private": True, "repo_type": "model", "exist_ok": True}),
        ("upload_folder", {"repo_id": "me/model", "folder_path": str(folder), "repo_type": "model",
                           "revision": None, "commit_message": "first", "ignore_patterns": [".*", "*.tmp*"]}),
    ]
    assert "testing" in (api.uploads["me/model"] / "README.md").read_text()
    with pytest.raises(ValueError, match="not a Hub repo id"):
        hub.push_folder_to_hub(folder, "no-owner", api=api)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConnectionError, match="network access is off"):
        hub.push_folder_to_hub(folder, "me/model", api=api)


def test_missing_hub_client_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r'pip install -e "\.\[hub\]"'):
        hub.download_folder("me/model", ["config.json"])
