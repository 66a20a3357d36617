"""The `--embeddings SPEC` option every command with `--library` takes, and how the
command line tells the user that dense ranking was switched off."""

from __future__ import annotations

import typer
from rich.console import Console

EMBEDDINGS_HELP = ("Dense retrieval for the library (optional): an OpenAI-compatible "
                   "embeddings endpoint, openai:MODEL@http://host:port/v1 (docs/library.md). "
                   "If it fails, retrieval goes on lexical + taxonomy, with a warning.")

_stderr = Console(stderr=True, soft_wrap=True, emoji=False)


def embeddings_option():
    return typer.Option(None, "--embeddings", metavar="SPEC", help=EMBEDDINGS_HELP)


def print_warning(message: str) -> None:
    _stderr.print("[bold yellow]warning:[/] ", end="")
    _stderr.print(message, highlight=False, markup=False)
