"""Text that someone else chose (a model, an MCP server, a skill), made safe to print.

An escape sequence in a tool name, a description or an error message could otherwise move
the cursor, rewrite what is on the screen, set the window title or hide text; a bidi control
could reorder what the reader sees. Every such character becomes U+FFFD, visibly.
"""

from __future__ import annotations

_REPLACEMENT = "\N{REPLACEMENT CHARACTER}"
_UNSAFE = [
    *range(0x00, 0x09),  # C0 controls but tab and newline (ESC is 0x1b)
    *range(0x0B, 0x20),
    0x7F,  # DEL
    *range(0x80, 0xA0),  # C1 controls (0x9b is a one-byte CSI for some terminals)
    *range(0x202A, 0x202F),  # bidi embeddings and overrides
    *range(0x2066, 0x206A),  # bidi isolates
    0x200E,  # left-to-right mark
    0x200F,  # right-to-left mark
    0x061C,  # Arabic letter mark
]
_MULTILINE = {c: _REPLACEMENT for c in _UNSAFE}
_ONE_LINE = {**_MULTILINE, 0x09: " ", 0x0A: " "}


def printable(text: object, *, one_line: bool = False) -> str:
    """`text` with every character that could drive a terminal replaced by U+FFFD (tabs and
    newlines kept, or turned into spaces with `one_line`)."""
    return str(text).translate(_ONE_LINE if one_line else _MULTILINE)
