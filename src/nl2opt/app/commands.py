"""The `nl2opt app` command: start the Streamlit chat app (wired in by `register(app)`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from nl2opt.app import entry_file


def streamlit_command(port: int, address: str, browser: bool) -> list[str]:
    """The `streamlit run` command line for the app's entry file.

    Streamlit never asks for an e-mail address (its first-run prompt would block a
    start without a terminal) and sends no usage statistics; without a browser it runs
    headless."""
    return [sys.executable, "-m", "streamlit", "run", str(entry_file()),
            "--server.port", str(port), "--server.address", address,
            "--server.headless", "false" if browser else "true",
            "--server.showEmailPrompt", "false",
            "--browser.gatherUsageStats", "false",
            "--global.developmentMode", "false", "--client.toolbarMode", "viewer"]


def register(app: typer.Typer) -> None:
    """Add the `app` command to a typer app."""

    @app.command("app")
    def run_app(port: int = typer.Option(8501, "--port", "-p", help="Port to serve on."),
                address: str = typer.Option("127.0.0.1", "--address",
                                            help="Address to listen on (0.0.0.0: all)."),
                browser: bool = typer.Option(True, "--browser/--no-browser",
                                             help="Open a browser tab."),
                db: Optional[Path] = typer.Option(None, "--db",
                                                  help="SQLite file for the history "
                                                       "(default: env NL2OPT_APP_DB, else "
                                                       "~/.local/share/nl2opt/app.db)."),
                llm: Optional[str] = typer.Option(None, "--llm",
                                                  help="LLM spec preselected in the sidebar "
                                                       "(default: env NL2OPT_LLM, else demo "
                                                       "mode)."),
                dry_run: bool = typer.Option(False, "--dry-run",
                                             help="Print the command instead of running it."),
                ) -> None:
        """Start the chat app (Streamlit) in the browser; demo mode needs no GPU."""
        import importlib.util

        if importlib.util.find_spec("streamlit") is None:
            typer.echo("error: the app needs Streamlit: pip install 'nl2opt[app]'", err=True)
            raise typer.Exit(2)
        command = streamlit_command(port, address, browser)
        environment = dict(os.environ)
        if db is not None:
            environment["NL2OPT_APP_DB"] = str(db.expanduser().resolve())
        if llm:
            environment["NL2OPT_LLM"] = llm
        if dry_run:
            typer.echo(" ".join(command))
            return
        typer.echo(f"nl2opt app on http://{address}:{port} (Ctrl+C to stop)")
        try:
            code = subprocess.call(command, env=environment, stdin=_child_stdin())
        except KeyboardInterrupt:
            code = 0
        raise typer.Exit(code)


def _child_stdin() -> int | None:
    """No terminal: Streamlit gets an empty stdin, so no prompt can ever wait for input."""
    stdin = sys.stdin
    return None if stdin is not None and stdin.isatty() else subprocess.DEVNULL
