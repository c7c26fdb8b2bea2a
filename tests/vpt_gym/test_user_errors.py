"""vpt_gym/user_errors.py: which exceptions are user errors, and how they are printed."""
from __future__ import annotations

import pytest

from vpt_gym.optional import MissingDependency
from vpt_gym.user_errors import UsageError, is_user_error, run_command, user_error_line


def test_path_errors_and_the_packages_input_errors_are_user_errors() -> None:
    from agents.checkpoints import CheckpointError, KeyMismatchError
    from agents.genrl.vlm.base import MissingWeightsError
    from agents.vpt.contractor import ContractorFormatError

    for err in (FileNotFoundError("x"), NotADirectoryError("x"), PermissionError("x"), UsageError("x"),
                MissingDependency("x"), CheckpointError("x"), ContractorFormatError("x"), MissingWeightsError("x")):
        assert is_user_error(err), type(err)
    assert is_user_error(KeyMismatchError.__new__(KeyMismatchError))  # a subclass of a listed class


@pytest.mark.parametrize("err", [ValueError("x"), TypeError("x"), KeyError("x"), RuntimeError("x"), AssertionError()])
def test_everything_else_is_a_bug(err: BaseException) -> None:
    assert not is_user_error(err)
    with pytest.raises(type(err)):
        run_command("prog", lambda: (_ for _ in ()).throw(err))


def test_the_line_is_one_line_bounded_and_unquoted(capsys: pytest.CaptureFixture) -> None:
    assert user_error_line("p", FileNotFoundError("first\n  second\nthird")) == "p: error: first; second; third"
    assert user_error_line("p", UsageError("x" * 10_000)).endswith("...")
    assert len(user_error_line("p", UsageError("x" * 10_000))) < 2100

    def fail() -> int:
        raise FileNotFoundError("data directory '/nowhere' does not exist")

    assert run_command("vpt-gym idm", fail) == 2
    assert capsys.readouterr().err == "vpt-gym idm: error: data directory '/nowhere' does not exist\n"


def test_statuses_pass_through_and_ctrl_c_is_130(capsys: pytest.CaptureFixture) -> None:
    assert run_command("p", lambda: None) == 0 and run_command("p", lambda: 1) == 1

    def interrupted() -> int:
        raise KeyboardInterrupt

    assert run_command("p", interrupted) == 130 and capsys.readouterr().err == "p: interrupted\n"
