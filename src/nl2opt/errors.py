"""The project's error types: one root, one subclass per broken rule.

Every message says what is wrong, where, and what to do instead, because the
same text goes to a person, to a report, and back to an LLM as a repair hint.
"""

from __future__ import annotations


class Nl2OptError(Exception):
    """Root of every error nl2opt raises on purpose."""


class ExpressionError(Nl2OptError):
    """An expression string is not in nl2opt's expression language.

    Carries the element it belongs to, the offending text and the column
    (0-based) so that callers can point at it.
    """

    def __init__(self, message: str, *, text: str = "", position: int | None = None,
                 element: str = "") -> None:
        self.reason = message
        self.text = text
        self.position = position
        self.element = element
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.element}: " if self.element else ""
        if self.position is None or not self.text:
            return f"{where}{self.reason}"
        snippet = self.text if len(self.text) <= 200 else self.text[:200] + "..."
        caret = " " * min(self.position, 200) + "^"
        return f"{where}{self.reason} (at column {self.position + 1})\n  {snippet}\n  {caret}"

    def located(self, element: str) -> "ExpressionError":
        """The same error, attributed to a formulation element."""
        return ExpressionError(self.reason, text=self.text, position=self.position,
                               element=element)


class FormulationError(Nl2OptError):
    """The formulation cannot be used; `issues` lists every located problem."""

    def __init__(self, message: str, issues: list | None = None) -> None:
        self.issues = list(issues or [])
        super().__init__(message)


class DataError(Nl2OptError):
    """Parameter or set data is missing, malformed, or cannot be read."""


class CompileError(Nl2OptError):
    """A valid-looking formulation could not be turned into a solver model."""


class ModelTooLargeError(CompileError):
    """Expanding the model would exceed a size limit (see `nl2opt.formulation.limits`)."""


class NotSupportedError(CompileError):
    """The chosen backend cannot handle this model (e.g. nonlinear on HiGHS)."""


class SolverUnavailableError(Nl2OptError):
    """A requested solver is not installed or cannot run here."""


class SolverFailedError(Nl2OptError):
    """The solver stopped with an error of its own (e.g. SCIP's "error in LP solver!" on
    numerical trouble). Backends turn it into an `error` result carrying the message."""
