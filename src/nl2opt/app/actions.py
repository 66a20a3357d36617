"""What a click inside an answer asks for; the page script carries it out after drawing.

Answers are drawn by pure-ish view functions; buttons inside them return an
`Action` instead of acting mid-draw, so every action runs once, in one place
(`main.py`), with the history and settings at hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ActionKind = Literal["edit", "adopt", "regenerate", "correct"]


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    key: str  # the answer's widget key prefix (for messages shown under it)
    payload: dict[str, Any] = field(default_factory=dict)
