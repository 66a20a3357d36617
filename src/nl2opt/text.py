"""Showing untrusted text safely: in error messages, and on a terminal.

Data files, LLM replies and scripts can contain anything: control characters
that move the cursor or recolour the terminal, Rich markup such as `[bold]`,
or a whole file. Messages quote such text through `snippet` (short, escaped);
the CLI prints it through `safe_terminal` (control characters escaped, markup
shown literally). Emoji codes such as `:x:` are left alone here: the CLI's
consoles are created with `emoji=False`.
"""

from __future__ import annotations

import re

# C0 and C1 controls except tab and newline, DEL, and the Unicode bidirectional
# overrides (which can make text read differently from what it is).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    r"""`text` with control characters written as escapes (`\x1b`), tabs and newlines kept."""
    return _CONTROLS.sub(_escaped, text)


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def snippet(value: object, limit: int = 60) -> str:
    """`repr(value)` (quoted, control characters escaped), cut to about `limit` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def safe_terminal(text: object) -> str:
    """`text` ready for Rich with markup on: controls escaped, `[tags]` printed as typed."""
    from rich.markup import escape

    return escape(escape_controls(str(text)))
