"""The sandbox's errors: unusable arguments, and no OS isolation to run the script in."""

from __future__ import annotations

from nl2opt.errors import Nl2OptError


class SandboxError(Nl2OptError):
    """run_sandboxed was called with arguments it cannot honour (bad file names, limits)."""


class SandboxUnavailable(SandboxError):
    """No OS-level isolation can be built here, so the script is not run (fail closed)."""
