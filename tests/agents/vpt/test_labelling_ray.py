"""The Ray pseudo-labelling backend on a real local Ray instance (2 CPUs, no dashboard): the same labels
as the local backend, a bad video reported without stopping the job, a killed worker's video retried."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.vpt.idm import IDMNetwork
from agents.vpt.idm_training import IDMLabeller
from agents.vpt.labelling import label_directory
from tests.support.contractor_data import DiesOnce, brightness_labeller, gray_frames, write_video_bgr
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

ray = pytest.importorskip("ray", reason='Ray is not installed: pip install -e ".[dev]" installs it')

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One local Ray instance for the module; workers import this checkout and use one torch thread."""
    if ray.is_initialized():
        ray.shutdown()
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}})  # fmt: skip
    yield
    ray.shutdown()


def _videos(root: Path, lengths: dict[str, int], size: tuple[int, int] = (72, 128)) -> Path:
    for name, n in lengths.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_video_bgr(root / f"{name}.mp4", gray_frames(n, *size)[..., ::-1])
    return root


def _labels(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.jsonl"))}


def test_ray_labels_equal_the_local_backend_and_a_bad_video_is_reported(tmp_path: Path) -> None:
    videos = _videos(tmp_path / "videos", {"a": 40, "b": 70, "sub/c": 12})
    (videos / "broken.mp4").write_bytes(b"not a video" * 50)
    labeller = IDMLabeller(IDMNetwork("tiny"))  # a torch module, shipped to the workers with ray.put
    kwargs = dict(window=16, stride=8, resolution=labeller.resolution, progress=False)
    local = label_directory(videos, labeller, tmp_path / "local", **kwargs)
    remote = label_directory(videos, labeller, tmp_path / "ray", backend="ray", **kwargs)
    assert sorted((p.name, n) for p, n in remote.labelled) == [("a.mp4", 40), ("b.mp4", 70), ("c.mp4", 12)]
    assert sorted(remote.labelled) == sorted(local.labelled)
    assert [(p.name, "cannot open the video" in reason) for p, reason in remote.failed] == [("broken.mp4", True)]
    assert remote.failed == local.failed
    assert _labels(tmp_path / "ray") == _labels(tmp_path / "local") and len(_labels(tmp_path / "ray")) == 3


def test_a_killed_workers_video_is_retried(tmp_path: Path) -> None:
    videos = _videos(tmp_path / "videos", {"a": 20, "b": 20, "c": 20}, size=(128, 128))
    marker = tmp_path / "killed-once"
    report = label_directory(videos, DiesOnce(str(marker), brightness_labeller()), tmp_path / "ray", backend="ray",
                             window=16, stride=8, progress=False)  # fmt: skip
    assert marker.exists()  # one worker was killed ...
    assert sorted((p.name, n) for p, n in report.labelled) == [("a.mp4", 20), ("b.mp4", 20), ("c.mp4", 20)]
    assert not report.failed  # ... and its video was labelled on the retry
    local = label_directory(videos, brightness_labeller(), tmp_path / "local", window=16, stride=8, progress=False)
    assert len(local.labelled) == 3 and _labels(tmp_path / "ray") == _labels(tmp_path / "local")


def test_without_retries_a_killed_workers_video_is_reported_and_the_job_goes_on(tmp_path: Path) -> None:
    videos = _videos(tmp_path / "videos", {"a": 20, "b": 20, "c": 20}, size=(128, 128))
    labeller = DiesOnce(str(tmp_path / "killed-once"), brightness_labeller())
    report = label_directory(videos, labeller, tmp_path / "ray", backend="ray", ray_options={"max_retries": 0},
                             window=16, stride=8, progress=False)  # fmt: skip
    assert len(report.labelled) == 2 and len(report.failed) == 1
    video, reason = report.failed[0]
    assert reason.startswith("ray task failed:") and "Worker" in reason, reason
    assert not (tmp_path / "ray" / video.with_suffix(".jsonl").name).exists()
