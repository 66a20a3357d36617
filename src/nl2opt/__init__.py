"""nl2opt: from a decision problem in plain language to a checked optimization model.

The public API is imported lazily so that `import nl2opt` stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "Formulation": "nl2opt.formulation.model",
    "load_formulation": "nl2opt.formulation.model",
    "formulation_json_schema": "nl2opt.formulation.model",
    "solve_formulation": "nl2opt.api",
    "solve": "nl2opt.api",
    "formulate": "nl2opt.api",
    "Report": "nl2opt.pipeline.report",
    "equivalent": "nl2opt.equivalence",
    "EquivalenceReport": "nl2opt.equivalence",
    "check_formulation": "nl2opt.api",
    "classify_formulation": "nl2opt.api",
    "SolveResult": "nl2opt.solvers.result",
    "Termination": "nl2opt.solvers.result",
    "Nl2OptError": "nl2opt.errors",
    "sensitivity": "nl2opt.api",
    "sensitivity_sentences": "nl2opt.api",
    "what_if": "nl2opt.api",
    "why_not": "nl2opt.api",
    "repairs": "nl2opt.api",
    "export": "nl2opt.api",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'nl2opt' has no attribute {name!r}")
