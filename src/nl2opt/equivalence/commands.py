"""`nl2opt equiv A B`: the equivalence check on the command line (register(app))."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `equiv` command to a Typer app."""

    @app.command("equiv")
    def equiv(a: str = typer.Argument(..., help="First model: formulation .json, .lp, .mps "
                                                "or a Pyomo/gurobipy .py script."),
              b: str = typer.Argument(..., help="Second model (same kinds)."),
              llm: str | None = typer.Option(None, "--llm", help="LLM spec to propose a "
                                                "variable map when LLM-free matching fails."),
              samples: int = typer.Option(4, help="Distinct optima sampled per model."),
              seed: int = typer.Option(0, help="Seed of the objective perturbations."),
              as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
              ) -> None:
        """Check whether two formulations are equivalent; exit 0 equivalent, 1 not, 2 unknown."""
        from nl2opt.equivalence.core import equivalent
        from nl2opt.errors import Nl2OptError
        from nl2opt.text import escape_controls

        try:
            report = equivalent(a, b, llm=llm, samples=samples, seed=seed)
        except Nl2OptError as exc:
            typer.echo(f"error: {escape_controls(str(exc))}", err=True)
            raise typer.Exit(3)
        typer.echo(report.to_json() if as_json else escape_controls(report.explain()))
        raise typer.Exit({"equivalent": 0, "not_equivalent": 1}.get(report.verdict, 2))
