"""The ``idm`` and ``bc`` commands, driven through argparse exactly as ``vpt-gym`` builds them."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from agents.vpt.cli import bc_add_arguments, bc_run, idm_add_arguments, idm_run
from agents.vpt.idm import IDMNetwork
from agents.vpt.io import load_pretrained
from agents.vpt.policy import VPTPolicyNet
from tests.support.synthetic_vpt_data import write_synthetic_dataset
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _parser() -> argparse.ArgumentParser:
    """What vpt_gym.cli.build_parser does with the COMMANDS rows ``idm`` and ``bc``."""
    parser = argparse.ArgumentParser(prog="vpt-gym")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, add, run in (("idm", idm_add_arguments, idm_run), ("bc", bc_add_arguments, bc_run)):
        p = sub.add_parser(name)
        add(p)
        p.set_defaults(_run=run)
    return parser


def _main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return args._run(args)


def _last_json(text: str) -> dict:
    start = text.rindex("\n{\n") + 1 if "\n{\n" in text else text.index("{")
    return json.loads(text[start:])


def test_train_label_clone_through_the_commands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_synthetic_dataset(tmp_path / "contractor", 3, 32, seed=3)
    write_synthetic_dataset(tmp_path / "videos", 2, 24, seed=4)
    for jsonl in (tmp_path / "videos").glob("*.jsonl"):
        jsonl.unlink()

    common = ["--max-steps", "2", "--batch-size", "2", "--log-formats", "csv", "--no-progress"]
    assert _main(["idm", "train", str(tmp_path / "contractor"), str(tmp_path / "idm"), "--model", "tiny",
                  "--window", "8", "--val-fraction", "0.34", "--lr", "1e-3", *common]) == 0  # fmt: skip
    out = _last_json(capsys.readouterr().out)
    assert out["steps"] == 2 and out["metrics"]["n_frames"] == 32
    assert isinstance(load_pretrained(out["final"]), IDMNetwork)

    assert _main(["idm", "eval", str(tmp_path / "contractor"), "--idm", out["final"], "--window", "8"]) == 0
    assert _last_json(capsys.readouterr().out)["n_frames"] == 3 * 32

    argv = ["idm", "label", str(tmp_path / "videos"), "--idm", out["final"], "--out", str(tmp_path / "labels"),
            "--window", "8", "--stride", "4", "--no-progress"]  # fmt: skip
    assert _main(argv) == 0
    assert "labelled 2 videos (48 frames)" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "labels").glob("*.jsonl")) == ["video00.jsonl", "video01.jsonl"]
    assert _main(argv) == 0  # resumable: nothing left to do
    assert "labelled 0 videos (0 frames), skipped 2 already labelled" in capsys.readouterr().out

    assert _main(["bc", "train", str(tmp_path / "videos"), str(tmp_path / "bc"), "--labels", str(tmp_path / "labels"),
                  "--policy", "tiny", "--chunk-len", "4", "--drop-null", "none", *common]) == 0  # fmt: skip
    out = _last_json(capsys.readouterr().out)
    assert out["steps"] == 2 and out["first_loss"] > 0
    policy_dir = out["final"]
    assert isinstance(load_pretrained(policy_dir), VPTPolicyNet)

    # fine-tuning: the same command from the trained policy
    assert _main(["bc", "train", str(tmp_path / "videos"), str(tmp_path / "ft"), "--labels", str(tmp_path / "labels"),
                  "--init-from", policy_dir, "--chunk-len", "4", "--drop-null", "none", *common]) == 0  # fmt: skip
    assert _last_json(capsys.readouterr().out)["steps"] == 2


def test_label_reports_a_bad_video_and_fails_without_stopping(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_synthetic_dataset(tmp_path / "videos", 1, 12, seed=5)
    (tmp_path / "videos" / "broken.mp4").write_bytes(b"not a video")
    from agents.vpt.io import save_pretrained

    save_pretrained(IDMNetwork("tiny"), tmp_path / "idm")
    code = _main(["idm", "label", str(tmp_path / "videos"), "--idm", str(tmp_path / "idm"), "--out", str(tmp_path / "l"),
                  "--window", "8", "--stride", "4", "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1 and "failed" in out and "broken.mp4" in out and "labelled 1 videos" in out
    assert (tmp_path / "l" / "video00.jsonl").is_file()


def test_label_fast_float32_gives_the_float32_labels(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_synthetic_dataset(tmp_path / "videos", 1, 12, seed=6)
    from agents.vpt.io import save_pretrained

    torch.manual_seed(4)
    save_pretrained(IDMNetwork("tiny"), tmp_path / "idm")
    base = ["idm", "label", str(tmp_path / "videos"), "--idm", str(tmp_path / "idm"), "--window", "8", "--stride", "4",
            "--no-progress"]  # fmt: skip
    assert _main(base + ["--out", str(tmp_path / "plain")]) == 0
    assert _main(base + ["--out", str(tmp_path / "fast32"), "--fast", "--fast-dtype", "float32"]) == 0
    capsys.readouterr()
    plain = (tmp_path / "plain" / "video00.jsonl").read_text()
    assert plain and plain == (tmp_path / "fast32" / "video00.jsonl").read_text()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bc", "train", "d", "o", "--policy", "tiny", "--init-from", "x"], "not allowed with argument"),
        (["idm", "train", "d", "o", "--window", "0"], "must be a positive integer"),
        (["idm", "train", "d", "o", "--log-formats", "stdout,xml"], "unknown log format"),
        (["idm", "label", "videos"], "--idm"),
        (["bc"], "required"),
    ],
)
def test_bad_arguments_are_rejected_by_the_parser(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_defaults_match_the_reference_hyper_parameters() -> None:
    args = _parser().parse_args(["bc", "train", "d", "o"])
    assert (args.lr, args.weight_decay, args.max_grad_norm, args.batch_size, args.epochs) == (0.000181, 0.039428, 5.0, 8, 2)
    args = _parser().parse_args(["idm", "label", "v", "--idm", "m"])
    assert (args.window, args.stride) == (128, 64)
