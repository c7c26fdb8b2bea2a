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
        (["idm", "train", "d", "o", "--window", "0"], "must be an integer >= 1; got '0'"),
        (["idm", "train", "d", "o", "--max-grad-norm", "nan"], "argument --max-grad-norm: must be a finite number > 0; got 'nan'"),
        (["bc", "train", "d", "o", "--lr", "inf"], "argument --lr: must be a finite number >= 0"),
        (["bc", "train", "d", "o", "--weight-decay", "-1"], "argument --weight-decay: must be a finite number >= 0"),
        (["idm", "train", "d", "o", "--val-fraction", "1"], "must be a finite number >= 0 and < 1"),
        (["idm", "train", "d", "o", "--seed", "-3"], "argument --seed: must be an integer >= 0"),
        (["idm", "train", "d", "o", "--checkpoint-every", "1.5"], "argument --checkpoint-every: must be an integer"),
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


def test_label_on_a_directory_without_videos_is_an_error(tmp_path: Path) -> None:
    from agents.vpt.io import save_pretrained

    save_pretrained(IDMNetwork("tiny"), tmp_path / "idm")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .mp4 videos under '.*empty': nothing to label"):
        _main(["idm", "label", str(tmp_path / "empty"), "--idm", str(tmp_path / "idm"), "--no-progress"])


@pytest.mark.parametrize("field, value, message", [
    ("max_grad_norm", float("nan"), "max_grad_norm must be a finite number > 0; got nan"),
    ("lr", -1e-3, "lr must be a finite number >= 0; got -0.001"),
    ("batch_size", 0, "batch_size must be an integer >= 1; got 0"),
    ("max_steps", -5, "max_steps must be an integer >= 1; got -5"),
    ("keep_checkpoints", True, "keep_checkpoints must be an integer >= 1; got True"),
])
def test_training_configs_refuse_bad_numbers(field: str, value: object, message: str) -> None:
    from agents.vpt.bc import BCConfig
    from agents.vpt.idm_training import IDMTrainingConfig

    for config in (IDMTrainingConfig, BCConfig):
        with pytest.raises(ValueError, match=message.replace("(", "\\(")):
            config(data="d", out_dir="o", **{field: value})


def test_defaults_match_the_reference_hyper_parameters() -> None:
    args = _parser().parse_args(["bc", "train", "d", "o"])
    assert (args.lr, args.weight_decay, args.max_grad_norm, args.batch_size, args.epochs) == (0.000181, 0.039428, 5.0, 8, 2)
    from agents.vpt.labelling import default_stride

    args = _parser().parse_args(["idm", "label", "v", "--idm", "m"])
    assert (args.window, default_stride(args.window, args.stride)) == (128, 64)  # VPT's 128/64
    args = _parser().parse_args(["idm", "label", "v", "--idm", "m", "--window", "32"])
    assert default_stride(args.window, args.stride) == 16  # the stride follows the window (issue #15)


def test_label_with_only_a_window_uses_half_of_it_as_stride(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Issue #15: ``vpt-gym idm label VIDEOS --idm OUT/final --window 32`` failed (stride 64 > window 32)."""
    write_synthetic_dataset(tmp_path / "videos", 1, 20, seed=6)
    from agents.vpt.io import save_pretrained

    save_pretrained(IDMNetwork("tiny"), tmp_path / "idm")
    assert _main(["idm", "label", str(tmp_path / "videos"), "--idm", str(tmp_path / "idm"), "--out",
                  str(tmp_path / "l"), "--window", "8", "--no-progress"]) == 0  # fmt: skip
    assert "labelled 1 videos (20 frames)" in capsys.readouterr().out
