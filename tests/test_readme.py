"""The README's code runs as written: its fenced ```python and ```bash blocks, in order, on a copy of the checkout.

The blocks run in a scratch copy (the files a fresh clone has, with the working tree's contents, plus new
untracked files git does not ignore), never in the checkout itself: python blocks as ``python block.py``,
bash blocks with ``bash -e -o pipefail``, each in the copy's root with ``PYTHONPATH`` pointing at it and this
interpreter's ``bin`` first on ``PATH`` (so ``python`` and ``vpt-gym`` are the installed ones).

Markers, an HTML comment on its own line directly before a block (several may be stacked):

* ``<!-- readme-test: skip (reason) -->``: the block cannot run here (MineRL 1.0, weights that are not on
  this machine, a GPU, the install and test commands themselves); the reason is required.
* ``<!-- readme-test: slow -->``: a long block; it runs only in the slow test (``pytest -m slow``), and the
  README must say how long it takes (in the block or in the text just around it).
* ``<!-- readme-test: env VAR=value ... -->``: run the block with these environment variables (tiny settings);
  allowed only where the README's text names the variable, so a reader knows what the test changed.

Unmarked blocks run in the fast default test, so they must take seconds. A block that looks like it cannot run
here (MineRL ids, released VPT weights, real VLM weights, pip/apt/pytest commands, CUDA) fails
:func:`test_every_block_is_classified` until it is marked.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

RUN_LANGUAGES = ("python", "bash")
#: fence languages that look like code to run but that the test would not run: use python or bash instead
UNRUN_ALIASES = ("", "py", "python3", "pycon", "sh", "shell", "console", "zsh", "shell-session")
#: what cannot run on the test machine -> the pattern that finds it in a block
UNRUNNABLE = {
    "MineRL 1.0": re.compile(r"MineRL\w*-v\d|import minerl|\[minerl\]"),
    "released VPT weights": re.compile(r"foundation-model-|bc-early-game-|bc-house-|rl-from-|4x-idm"),
    "real VLM weights": re.compile(r"--vlm\s+[\"']?(clip|siglip|xclip)\b|load_vlm\(\s*[\"'](clip|siglip|xclip)"),
    "an install or test command": re.compile(r"^\s*(pip3?|python -m pip|apt(-get)?|pytest|python -m pytest)\b", re.M),
    "a GPU": re.compile(r"\bcuda\b", re.I),
}
DURATION = re.compile(r"\b\d[\d.,]*\s*(s|sec|seconds?|min|minutes?|h|hours?)\b", re.I)
DIRECTIVE = re.compile(r"^\s*<!--\s*readme-test:\s*(?P<body>.*?)\s*-->\s*$")
FENCE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")  # indented too (inside a list item)
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
MAX_COPIED_FILE = 2 * 1024 * 1024  # bytes: a stray large untracked file is not part of a clone
FAST_TIMEOUT_S = 600  # guards against a hang only; fast blocks take seconds
SLOW_TIMEOUT_S = 3 * 3600


@dataclass
class Block:
    """One fenced code block of the README and its markers."""

    line: int  # 1-based line of the opening fence
    language: str
    code: str
    skip: str | None = None  # the reason
    slow: bool = False
    env: dict[str, str] = field(default_factory=dict)
    directive_lines: list[int] = field(default_factory=list)

    @property
    def runs(self) -> bool:
        return self.language in RUN_LANGUAGES and self.skip is None

    def name(self) -> str:
        return f"README.md line {self.line} ({self.language} block)"


def parse_readme(text: str) -> tuple[list[Block], list[str]]:
    """The README's fenced blocks with their markers, and the problems found in the markers."""
    lines = text.splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    pending: list[tuple[int, str]] = []  # (line, directive body) waiting for their block
    i = 0
    while i < len(lines):
        line = lines[i]
        number = i + 1
        match = DIRECTIVE.match(line)
        if match:
            pending.append((number, match.group("body")))
            i += 1
            continue
        if "readme-test" in line:
            problems.append(f"line {number}: malformed marker {line.strip()[:120]!r}; expected "
                            "<!-- readme-test: skip (reason) | slow | env VAR=value -->")
        fence = FENCE.match(line)
        if fence:
            marker, language = fence.group("fence"), fence.group("lang").lower()
            end = i + 1
            while end < len(lines) and not lines[end].strip().startswith(marker):
                end += 1
            if end == len(lines):
                problems.append(f"line {number}: code block never closed")
            block = Block(number, language, textwrap.dedent("\n".join(lines[i + 1 : end])) + "\n")
            for directive_line, body in pending:
                _apply(block, directive_line, body, problems)
            pending = []
            blocks.append(block)
            i = end + 1
            continue
        if line.strip() and pending:
            problems.append(f"line {pending[0][0]}: marker not directly followed by a code block")
            pending = []
        i += 1
    if pending:
        problems.append(f"line {pending[0][0]}: marker at the end of the README, with no block after it")
    return blocks, problems


def _apply(block: Block, line: int, body: str, problems: list[str]) -> None:
    block.directive_lines.append(line)
    skip = re.fullmatch(r"skip\s*\((?P<reason>.*)\)", body)
    if skip:
        reason = skip.group("reason").strip()
        if len(reason) < 8:
            problems.append(f"line {line}: a skip needs its reason, e.g. skip (needs MineRL 1.0); got {body!r}")
        block.skip = reason
    elif body == "slow":
        block.slow = True
    elif body.startswith("env ") or body == "env":
        try:
            words = shlex.split(body[3:])
        except ValueError as err:
            problems.append(f"line {line}: cannot read {body!r}: {err}")
            return
        if not words:
            problems.append(f"line {line}: env names no VAR=value")
        for word in words:
            if not ENV_ASSIGNMENT.match(word):
                problems.append(f"line {line}: env expects VAR=value, got {word!r}")
                continue
            key, _, value = word.partition("=")
            block.env[key] = value
    else:
        problems.append(f"line {line}: unknown marker {body!r}; expected skip (reason), slow or env VAR=value")


def classification_problems(text: str) -> list[str]:
    """Everything :func:`test_every_block_is_classified` refuses (empty when the README is in order)."""
    blocks, problems = parse_readme(text)
    lines = text.splitlines()
    prose = "\n".join(line for line in lines if not DIRECTIVE.match(line))
    for block in blocks:
        if block.language in UNRUN_ALIASES:
            problems.append(f"{block.name()}: fence it as ```python or ```bash (the README test runs those), "
                            "or name a language that is not run (```text, ```json, ...)")
        if block.language not in RUN_LANGUAGES:
            if block.directive_lines:
                problems.append(f"{block.name()}: markers on a block the test does not run")
            continue
        if block.skip is not None and (block.slow or block.env):
            problems.append(f"{block.name()}: a skipped block cannot also be slow or take env settings")
        if block.runs:
            for what, pattern in UNRUNNABLE.items():
                if pattern.search(block.code):
                    problems.append(f"{block.name()} looks like it needs {what}, which the test machine does not "
                                    "have: mark it <!-- readme-test: skip (reason) --> or make it runnable here")
        if block.slow:
            around = "\n".join(lines[max(0, min(block.directive_lines) - 6) : block.line + block.code.count("\n") + 4])
            if not DURATION.search(around):
                problems.append(f"{block.name()} is slow: say how long it takes (e.g. 'about 30 minutes on a "
                                "2-core CPU') in the block or the text around it")
        for key in block.env:
            if key not in prose:
                problems.append(f"{block.name()} runs with {key} set, but the README text never mentions {key}: "
                                "tell the reader what the tiny setting is")
    return problems


def _readme_blocks() -> list[Block]:
    return parse_readme(README.read_text(encoding="utf-8"))[0]


def _checkout_files() -> list[str]:
    """Paths (relative to the repository root) of what a fresh clone has, plus untracked files not ignored."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, check=True, timeout=60).stdout
        return [name for name in out.decode("utf-8", "surrogateescape").split("\0") if name]
    except (OSError, subprocess.SubprocessError):  # no git here: everything but the usual outputs
        skip = {".git", "__pycache__", ".pytest_cache", ".hypothesis", "runs", "bench-out", "build", "dist"}
        return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                if p.is_file() and not skip.intersection(p.relative_to(ROOT).parts)]


def scratch_checkout(dest: Path) -> Path:
    """Copy the checkout's files (see :func:`_checkout_files`) to ``dest``; return ``dest``."""
    for name in _checkout_files():
        src = ROOT / name
        if not src.is_file() or src.stat().st_size > MAX_COPIED_FILE:
            continue  # deleted in the working tree, or a large stray file
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


def _block_env(block: Block, repo: Path, all_blocks: list[Block]) -> dict[str, str]:
    env = dict(os.environ)
    for other in all_blocks:  # a variable a marker sets reaches only the blocks marked with it
        for key in other.env:
            env.pop(key, None)
    env.update(block.env)
    env["PYTHONPATH"] = os.pathsep.join([str(repo), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env.setdefault("MUJOCO_GL", "egl")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def run_blocks(blocks: list[Block], all_blocks: list[Block], workdir: Path, timeout_s: float) -> None:
    """Run ``blocks`` in order in a fresh scratch copy under ``workdir``; fail on the first that fails."""
    repo = scratch_checkout(workdir / "repo")
    scripts = workdir / "blocks"
    scripts.mkdir()
    for index, block in enumerate(blocks):
        suffix = ".py" if block.language == "python" else ".sh"
        script = scripts / f"{index:02d}-line{block.line}{suffix}"
        script.write_text(block.code, encoding="utf-8")
        command = [sys.executable, str(script)] if block.language == "python" else ["bash", "-e", "-o", "pipefail", str(script)]
        try:
            done = subprocess.run(command, cwd=repo, env=_block_env(block, repo, all_blocks), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout_s)
        except subprocess.TimeoutExpired as err:
            output = (err.stdout or b"").decode("utf-8", "replace")
            pytest.fail(f"{block.name()} did not finish in {timeout_s:.0f} s\n{block.code}\n--- output (end) ---\n"
                        f"{output[-3000:]}")
        output = done.stdout.decode("utf-8", "replace")
        if done.returncode != 0:
            env_text = " ".join(f"{k}={v}" for k, v in block.env.items())
            pytest.fail(f"{block.name()} exited with status {done.returncode}"
                        f"{' (env ' + env_text + ')' if env_text else ''}\n{block.code}\n--- output (end) ---\n"
                        f"{output[-3000:]}")


# ------------------------------------------------------------------------------------------------- tests


def test_every_block_is_classified() -> None:
    """Each marker is well formed and attached; no block escapes the test by its fence language; a block that
    cannot run here is marked skip with a reason; slow blocks state their time; env settings are documented."""
    problems = classification_problems(README.read_text(encoding="utf-8"))
    assert not problems, "README code blocks need attention:\n" + "\n".join(problems)


def test_the_readme_has_blocks_of_every_kind() -> None:
    blocks = _readme_blocks()
    runnable = [b for b in blocks if b.runs]
    assert any(not b.slow for b in runnable), "no fast block: the default test would run nothing"
    assert any(b.slow for b in runnable) and any(b.skip for b in blocks)


def test_readme_fast_blocks_run_in_order(tmp_path: Path) -> None:
    """The unmarked python and bash blocks, in README order (each takes seconds)."""
    blocks = _readme_blocks()
    run_blocks([b for b in blocks if b.runs and not b.slow], blocks, tmp_path, FAST_TIMEOUT_S)


@pytest.mark.slow
def test_readme_all_blocks_run_in_order(tmp_path: Path) -> None:
    """Every runnable block, the slow ones included, in README order (prerequisites come first)."""
    blocks = _readme_blocks()
    run_blocks([b for b in blocks if b.runs], blocks, tmp_path, SLOW_TIMEOUT_S)


# ------------------------------------------------------------------------------- the checker itself


GOOD = """Some text. Set TINY_RUN=1 for a smoke run (about a minute).

<!-- readme-test: slow -->
<!-- readme-test: env TINY_RUN=1 -->
```bash
python -m something   # about 30 minutes
```

<!-- readme-test: skip (needs MineRL 1.0) -->
```python
import gymnasium as gym
gym.make("vpt_gym/MineRLBasaltFindCave-v0")
```

```json
{"not": "run"}
```
"""


def test_the_checker_accepts_a_well_marked_readme() -> None:
    blocks, problems = parse_readme(GOOD)
    assert problems == [] and classification_problems(GOOD) == []
    assert [(b.line, b.language, b.slow, b.env, b.skip) for b in blocks] == [
        (5, "bash", True, {"TINY_RUN": "1"}, None), (10, "python", False, {}, "needs MineRL 1.0"), (15, "json", False, {}, None)]
    assert [b.runs for b in blocks] == [True, False, False]


@pytest.mark.parametrize("readme, expected", [
    ("```python\nimport gymnasium as gym\ngym.make('vpt_gym/MineRLBasaltFindCave-v0')\n```\n", "needs MineRL 1.0"),
    ("```bash\npip install -e .\n```\n", "install or test command"),
    ("```bash\nvpt-gym genrl-decode --checkpoint r --prompt x --vlm clip --out a.gif\n```\n", "real VLM weights"),
    ("```python\nVPTAgent.from_pretrained('foundation-model-1x')\n```\n", "released VPT weights"),
    ("```sh\nls\n```\n", "fence it as ```python or ```bash"),
    ("```\nls\n```\n", "fence it as ```python or ```bash"),
    ("<!-- readme-test: skip -->\n```bash\nls\n```\n", "unknown marker"),
    ("<!-- readme-test: skip () -->\n```bash\nls\n```\n", "needs its reason"),
    ("<!-- readme-test: slow -->\n```bash\nls\n```\n", "say how long it takes"),
    ("<!-- readme-test: env SECRET_TINY=1 -->\n```bash\nls\n```\n", "never mentions SECRET_TINY"),
    ("<!-- readme-test: env 1X=2 -->\n```bash\nls\n```\n", "env expects VAR=value"),
    ("<!-- readme-test: slow -->\nSome text.\n\n```bash\nls  # 2 minutes\n```\n", "not directly followed"),
    ("```bash\nls\n```\n<!-- readme-test: slow -->\n", "at the end of the README"),
    ("1. a list item:\n\n   ```bash\n   pip install x\n   ```\n", "install or test command"),
    ("<!-- readme-test: quick -->\n```bash\nls\n```\n", "unknown marker"),
    ("<!-- readme-test slow -->\n```bash\nls\n```\n", "malformed marker"),
    ("<!-- readme-test: skip (needs MineRL 1.0) -->\n<!-- readme-test: slow -->\n```bash\nls # 1 min\n```\n",
     "cannot also be slow"),
])  # fmt: skip
def test_the_checker_refuses_unclassified_or_badly_marked_blocks(readme: str, expected: str) -> None:
    problems = classification_problems(readme)
    assert any(expected in p for p in problems), problems


def test_a_failing_block_fails_the_run_with_its_line_and_output(tmp_path: Path) -> None:
    blocks = parse_readme("```bash\necho first > made_here.txt\n```\n\n```python\n"
                          "print(open('made_here.txt').read().strip()); raise SystemExit(3)\n```\n")[0]
    with pytest.raises(pytest.fail.Exception, match=r"(?s)line 5 \(python block\) exited with status 3.*first"):
        run_blocks(blocks, blocks, tmp_path, 60)
    assert (tmp_path / "repo" / "made_here.txt").is_file() and not (ROOT / "made_here.txt").exists()


def test_env_markers_reach_only_their_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("README_TEST_PROBE", "from-outside")
    blocks = parse_readme("<!-- readme-test: env README_TEST_PROBE=tiny -->\n```bash\n"
                          "test \"$README_TEST_PROBE\" = tiny\n```\n\n```bash\ntest -z \"${README_TEST_PROBE:-}\"\n"
                          "python -c 'import vpt_gym, sys; assert vpt_gym.__file__.startswith(sys.argv[1]), vpt_gym.__file__' "
                          "\"$PWD\"\n```\n")[0]  # fmt: skip
    run_blocks(blocks, blocks, tmp_path, 120)  # the second block also imports vpt_gym from the scratch copy
