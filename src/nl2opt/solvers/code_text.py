"""Text helpers for emitted code: number literals, wrapping, comments, docstrings."""

from __future__ import annotations

import math
import textwrap


def join_blocks(blocks: list[str]) -> str:
    """Statements grouped with one blank line; two blank lines around functions (PEP 8)."""
    text = blocks[0]
    for previous, block in zip(blocks, blocks[1:]):
        simple = not has_function(previous) and not has_function(block)
        one_liners = simple and "\n" not in previous.strip() and "\n" not in block.strip()
        text += ("\n" if one_liners and " = pyo.Var(" in previous + block else
                 "\n\n" if simple else "\n\n\n") + block
    return text


def has_function(block: str) -> bool:
    return any(line.startswith("def ") for line in block.splitlines())


def number_literal(value: float) -> str:
    if math.isinf(value):
        return "float('inf')" if value > 0 else "-float('inf')"
    return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def bound_text(value: float | None) -> str:
    return "None" if value is None or math.isinf(value) else number_literal(value)


def wrap_items(items: list[str], brackets: str, width: int = 96) -> str:
    """`[a, b, c]` on one line if short, else packed lines of at most `width` chars."""
    open_, close = brackets
    flat = open_ + ", ".join(items) + close
    if len(flat) <= width - 20:
        return flat
    lines, current = [], "   "
    for item in items:
        piece = f" {item},"
        if len(current) + len(piece) > width and current.strip():
            lines.append(current)
            current = "   "
        current += piece
    lines.append(current)
    return open_ + "\n" + "\n".join(lines) + "\n" + close


def visible(text: str) -> str:
    """`text` with characters Python source cannot hold as they are (NUL, other control
    characters, lone surrogates) written as escapes, for comments and docstrings."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in "\t\n\r" else
                   ch.encode("unicode_escape").decode("ascii") for ch in text)


def comment(line: str, note: str) -> str:
    note = " ".join(visible(note).split())
    if not note:
        return line
    last = line.rsplit("\n", 1)[-1]
    if len(f"{last}  # {note}") <= 100:
        return f"{line}  # {note}"
    return f"# {note}\n{line}"


def docstring_text(text: str) -> str:
    # Escaped last: the escapes stay escape sequences of the docstring (`\x00`).
    return visible(text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').strip())


def paragraph(text: str) -> str:
    return textwrap.fill(" ".join(docstring_text(text).split()), width=96)


def docstring_line(text: str) -> str:
    text = " ".join(text.split())
    return f'    """{docstring_text(text)}"""\n' if text else ""


def return_line(expression: str) -> str:
    """`    return expr`, broken inside parentheses at top-level operators when too long."""
    line = f"    return {expression}"
    if len(line) <= 100:
        return line
    body = "\n".join(wrap_expression(expression, " " * 8))
    return f"    return (\n{body}\n    )"


def wrap_expression(text: str, indent: str, width: int = 100) -> list[str]:
    """Lines for `text` inside brackets: split before top-level + - and relations, else
    inside the outermost call at its top-level commas or `for`/`if` clauses."""
    if len(indent) + len(text) <= width:
        return [indent + text]
    pieces = split_top_level(text, (" <= ", " >= ", " == ", " + ", " - "))
    if len(pieces) > 1:
        lines = []
        for piece in pieces:
            lines.extend(wrap_expression(piece, indent, width))
        return lines
    opener = text.find("(")
    if opener > 0 and text.endswith(")") and closing(text, opener) == len(text) - 1:
        inner = text[opener + 1:-1]
        parts = split_top_level(inner, (" for ", " if "), keep_comma=True)
        if len(parts) > 1:
            lines = [indent + text[:opener + 1]]
            for part in parts:
                lines.extend(wrap_expression(part, indent + "    ", width))
            return lines + [indent + ")"]
    return [indent + text]


def split_top_level(text: str, separators: tuple[str, ...], keep_comma: bool = False
                     ) -> list[str]:
    """Split at depth-0 separators (kept at the start of the next piece) and, with
    keep_comma, after depth-0 commas; quotes and brackets are respected."""
    pieces, depth, start, quote, k = [], 0, 0, "", 0
    while k < len(text):
        char = text[k]
        if quote:
            quote = "" if char == quote and text[k - 1] != "\\" else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and keep_comma and char == ",":
            pieces.append(text[start:k + 1].strip())
            start = k + 1
        elif depth == 0 and k > start and any(text.startswith(s, k) for s in separators):
            pieces.append(text[start:k].strip())
            start = k + 1
        k += 1
    pieces.append(text[start:].strip())
    return [piece for piece in pieces if piece]


def closing(text: str, opener: int) -> int:
    depth = 0
    for k in range(opener, len(text)):
        depth += {"(": 1, ")": -1}.get(text[k], 0)
        if depth == 0:
            return k
    return -1
