"""OpenAI's released VPT files: cache location, checked downloads from a local HTTP server (progress bar,
clean retry after a dropped connection, sha256 / md5 / zip checks), offline errors naming every file, and
nothing left behind by a failed call."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import torch

from agents.checkpoints import CheckpointError
from agents.vpt import released
from agents.vpt.config import POLICY_PRESETS
from agents.vpt.io import from_pretrained, load_official
from agents.vpt.policy import VPTPolicyNet
from tests.support.range_http import serve_files
from tests.support.vpt_files import write_model_file, write_weights_file

TINY = POLICY_PRESETS["tiny"]
NAME = "rl-from-early-game-2x"  # its .model has a known md5 (spec 4.1)
ENTRY = released.RELEASED[NAME]


@pytest.fixture(autouse=True)
def online(monkeypatch):
    for var in ("VPT_GYM_OFFLINE", "HF_HUB_OFFLINE", "VPT_GYM_CACHE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def files(tmp_path) -> dict[str, bytes]:
    torch.manual_seed(0)
    net = VPTPolicyNet(TINY).eval()
    write_model_file(tmp_path / "m.model", TINY)
    write_weights_file(tmp_path / "w.weights", net)
    return {ENTRY.model_file: (tmp_path / "m.model").read_bytes(),
            ENTRY.weights_file: (tmp_path / "w.weights").read_bytes()}


@pytest.fixture
def model_md5(monkeypatch, files):
    """Pretend the spec's md5 of the .model is the md5 of our small test file."""
    digest = "md5:" + hashlib.md5(files[ENTRY.model_file]).hexdigest()
    monkeypatch.setitem(released.RELEASED, NAME,
                        released.ReleasedModel(ENTRY.model_file, ENTRY.weights_file, ((ENTRY.model_file, digest),)))


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_cache_location_follows_vpt_gym_cache_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert released.default_cache_dir() == tmp_path / "xdg" / "vpt-gym"
    monkeypatch.setenv("VPT_GYM_CACHE", str(tmp_path / "mine"))
    assert released.default_cache_dir() == tmp_path / "mine"
    assert released.cached_path("models/2x.model") == tmp_path / "mine" / "openai-vpt" / "models" / "2x.model"
    assert "models--" not in str(released.cached_path("models/2x.model"))  # no imitation of the HF cache


def test_download_shows_progress_checks_md5_and_zip_and_loads(tmp_path, files, model_md5, capsys):
    cache = tmp_path / "cache"
    with serve_files(files) as (url, log):
        m, w = released.fetch_released(NAME, cache_dir=cache, base_url=url)
    assert m.read_bytes() == files[ENTRY.model_file] and w.read_bytes() == files[ENTRY.weights_file]
    assert m == cache / "openai-vpt" / ENTRY.model_file
    err = capsys.readouterr().err
    assert "100%" in err and "B/s" in err  # torch.hub's tqdm bar, one per file
    assert sorted(line.split()[0] for line in log) == sorted(files)
    assert _tree(cache) == sorted(["openai-vpt", "openai-vpt/models", f"openai-vpt/{ENTRY.model_file}",
                                   f"openai-vpt/{ENTRY.weights_file}"])  # no temporary or lock files
    load_official(m, w)
    with serve_files(files) as (url, log):  # cached: nothing requested again
        released.fetch_released(NAME, cache_dir=cache, base_url=url)
    assert log == []


def test_dropped_connection_leaves_nothing_and_a_retry_succeeds(tmp_path, files, model_md5):
    cache = tmp_path / "cache"
    with serve_files(files, truncate_once={ENTRY.weights_file: 1000}) as (url, log):
        with pytest.raises(FileNotFoundError) as err:
            released.fetch_released(NAME, cache_dir=cache, base_url=url, progress=False)
        msg = str(err.value)
        assert f"could not download {url}{ENTRY.weights_file}" in msg
        for rel in ENTRY.files:  # every file, with its URL and where it goes
            assert f"{url}{rel}" in msg and str(released.cached_path(rel, cache)) in msg
        assert not cache.exists()  # the .model fetched before the failure and the folders are gone too
        m, w = released.fetch_released(NAME, cache_dir=cache, base_url=url, progress=False)
    assert w.read_bytes() == files[ENTRY.weights_file]
    assert [line.split()[0] for line in log].count(ENTRY.weights_file) == 2


def test_sha256_mismatch_is_a_clear_error_and_no_file_is_left(tmp_path, files, model_md5):
    cache = tmp_path / "cache"
    cache.mkdir()  # an existing cache root stays; what the call created goes
    good = hashlib.sha256(files[ENTRY.weights_file]).hexdigest()
    with serve_files(files) as (url, _):
        with pytest.raises(CheckpointError, match="sha256 mismatch") as err:
            released.fetch_released(NAME, cache_dir=cache, base_url=url, progress=False,
                                    sha256={ENTRY.weights_file: "0" * 64})
        assert "removed" in str(err.value)
        assert _tree(cache) == []
        m, w = released.fetch_released(NAME, cache_dir=cache, base_url=url, progress=False,
                                       sha256={ENTRY.weights_file: good[:12]})
    # a wrong hash for a file that is already cached is an error too, and the cached file is kept
    with pytest.raises(CheckpointError, match="already in the cache: delete it"):
        released.fetch_released(NAME, cache_dir=cache, sha256={ENTRY.weights_file: "ffff"})
    assert w.is_file()
    with pytest.raises(ValueError, match="not a file of"):
        released.fetch_released(NAME, cache_dir=cache, sha256={"models/other.weights": good})


def test_md5_and_zip_checks_reject_bad_downloads(tmp_path, files, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setitem(released.RELEASED, NAME, released.ReleasedModel(
        ENTRY.model_file, ENTRY.weights_file, ((ENTRY.model_file, "md5:" + "0" * 32),)))
    with serve_files(files) as (url, _):
        with pytest.raises(CheckpointError, match="md5 is"):
            released.fetch_released(NAME, cache_dir=cache, base_url=url, progress=False)
    assert not cache.exists()
    monkeypatch.setitem(released.RELEASED, NAME, released.ReleasedModel(ENTRY.model_file, ENTRY.weights_file))
    broken = dict(files)
    broken[ENTRY.weights_file] = files[ENTRY.weights_file][:-200]  # cut: the zip's directory is gone
    with serve_files(broken) as (url, _):
        with pytest.raises(CheckpointError, match="not an intact torch zip archive"):
            released.fetch_released(NAME, cache_dir=cache, base_url=url, progress=False)
    assert not cache.exists()


def test_offline_error_lists_every_file_at_once_and_creates_nothing(tmp_path, monkeypatch, files):
    cache = tmp_path / "cache"
    (cache / "openai-vpt" / "models").mkdir(parents=True)
    (cache / "openai-vpt" / ENTRY.model_file).write_bytes(files[ENTRY.model_file])  # one of two is there
    for var in ("VPT_GYM_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(var, "1")
        start = time.perf_counter()
        with pytest.raises(FileNotFoundError) as err:
            from_pretrained(NAME, cache_dir=cache)
        assert time.perf_counter() - start < 1.0  # nothing was tried
        msg = str(err.value)
        assert "downloads are off" in msg and "VPT_GYM_CACHE" in msg
        for rel, state in ((ENTRY.model_file, "present"), (ENTRY.weights_file, "missing")):
            assert f"{released.BASE_URL}{rel}\n    -> {released.cached_path(rel, cache)}  ({state})" in msg
        monkeypatch.delenv(var)
    assert _tree(cache) == sorted(["openai-vpt", "openai-vpt/models", f"openai-vpt/{ENTRY.model_file}"])
    empty = tmp_path / "empty"
    monkeypatch.setenv("VPT_GYM_OFFLINE", "1")
    with pytest.raises(FileNotFoundError):
        VPTPolicyNet.from_pretrained("foundation-model-1x", cache_dir=empty)
    assert not empty.exists()  # no empty cache folders either
    with pytest.raises(ValueError, match="released names"):
        released.fetch_released("foundation-model-9x", cache_dir=empty)


def test_unreachable_server_error_lists_every_file(tmp_path):
    cache = tmp_path / "cache"
    with serve_files({}) as (url, _):  # every path is a 404
        with pytest.raises(FileNotFoundError) as err:
            released.fetch_released("foundation-model-1x", cache_dir=cache, base_url=url, progress=False)
    msg = str(err.value)
    assert "HTTPError" in msg and "models/foundation-model-1x.model" in msg and "models/foundation-model-1x.weights" in msg
    assert not cache.exists()


def test_released_name_loads_from_cache_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("VPT_GYM_OFFLINE", "1")
    torch.manual_seed(5)
    net = VPTPolicyNet(TINY).eval()
    entry = released.RELEASED["foundation-model-1x"]
    model = released.cached_path(entry.model_file, tmp_path)
    model.parent.mkdir(parents=True)
    write_model_file(model, TINY)
    write_weights_file(released.cached_path(entry.weights_file, tmp_path), net)
    loaded = VPTPolicyNet.from_pretrained("foundation-model-1x", cache_dir=tmp_path)
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
