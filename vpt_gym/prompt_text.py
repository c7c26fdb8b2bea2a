"""Whether a text prompt says anything: a prompt made only of whitespace, zero-width characters
(U+200B, U+FEFF, ...), control characters such as NUL or lone combining marks is empty to a reader, and
to a VLM's tokenizer it is noise, so prompt checks treat it as empty.

Example::

    >>> has_visible_text("walk fast")
    True
    >>> has_visible_text("\\u200b\\u200d\\x00 \\ufeff")
    False
"""

from __future__ import annotations

import unicodedata

__all__ = ["has_visible_text"]

#: Unicode categories that show nothing on their own: controls, format (zero-width) characters,
#: surrogates, private use, unassigned, separators and combining marks.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})


def has_visible_text(text: str) -> bool:
    """True when ``text`` has at least one character that is not whitespace, a control or format
    (zero-width) character, or a combining mark."""
    return any(unicodedata.category(c) not in _INVISIBLE for c in text)
