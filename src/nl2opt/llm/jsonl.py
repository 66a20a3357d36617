"""Reading the JSONL files the LLM layer keeps (batch requests/responses, recordings)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from nl2opt.llm.types import LLMError


def json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-empty line; nothing when the file is absent."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                # A run killed mid-write leaves a torn last line: say where it is.
                raise LLMError(f"{path}:{number} is not JSON ({exc.msg})",
                               hint="a run killed mid-write leaves a torn last line; delete "
                                    "or fix that line and run again") from exc
            if isinstance(record, dict):
                yield number, record
