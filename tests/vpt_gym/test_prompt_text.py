"""vpt_gym/prompt_text.py: what counts as an empty prompt."""

import pytest

from vpt_gym.prompt_text import has_visible_text


@pytest.mark.parametrize("text", ["", " ", "\x00", "\u200b\u200c\u200d\u2060\ufeff", "\u0301", "\u3000\n"])
def test_invisible(text):
    assert not has_visible_text(text)


@pytest.mark.parametrize("text", ["a", " walk ", "\u200bx", "走", "é", "1"])
def test_visible(text):
    assert has_visible_text(text)
