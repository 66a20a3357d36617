"""Run untrusted Python (LLM-written or user-supplied model scripts) inside an OS sandbox.

The code never runs in the calling process. `run_sandboxed` starts a fresh interpreter
(`python -I -B -u`: no PYTHON* variables, no user site, no bytecode files) under
bubblewrap with a seccomp filter (see `bubblewrap` and `seccomp_filter`): its own user,
PID, mount, IPC, UTS, cgroup and network namespaces, no capabilities, uid 65534, a
read-only view of nothing but the Python installation and system libraries, a size-capped
tmpfs work directory as the only writable place, no process creation, and SIGKILL for the
whole sandbox on timeout or when the parent dies. Inside, a bootstrap (`_child.py`) sets
resource limits (CPU, address space, file size, open files) and installs an audit hook
that turns honest mistakes (opening /etc/passwd, a socket, subprocess) into clear
messages; the hook is an extra layer, never the boundary: the script can disable it.

Where no OS isolation can be built (bubblewrap or libseccomp missing, user namespaces
disallowed) `run_sandboxed` refuses with SandboxUnavailable, saying why and what to
install, unless the caller passes `unsafe_no_isolation=True` (the CLI's
--unsafe-no-isolation): then only the rlimits, the audit hook and, where available,
`unshare --net` stand between the script and the host. docs/sandbox.md has the details.

Result protocol (the LLM-code prompt tells models to use it):
    nl2opt_report(objective=..., status="optimal", values={"x[bread]": 3.0})
`nl2opt_report` is a global (and builtin) in the script; it takes JSON-serializable keyword
fields (numpy scalars and arrays are converted), at most 1 MB, and the last call wins. It
travels through a pipe, never a file the parent opens. A script may instead print one line
`NL2OPT_RESULT {"objective": ...}`; the last such line on stdout is used when
nl2opt_report was never called.
"""

from nl2opt.sandbox.errors import SandboxError, SandboxUnavailable
from nl2opt.sandbox.runner import (
    OUTPUT_CAP_BYTES,
    RESULT_CAP_BYTES,
    SandboxResult,
    network_namespace_available,
    run_sandboxed,
)

__all__ = ["OUTPUT_CAP_BYTES", "RESULT_CAP_BYTES", "SandboxError", "SandboxResult",
           "SandboxUnavailable", "network_namespace_available", "run_sandboxed"]
