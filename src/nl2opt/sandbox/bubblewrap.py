"""The bubblewrap command line that isolates a sandboxed Python, and whether it works here.

The child gets new user (uid 65534, no capabilities, no further user namespaces), PID
(the interpreter is PID 1: when it ends, everything it started ends), mount, IPC, UTS,
cgroup and network namespaces, a new terminal session, and SIGKILL when its parent dies.
Its filesystem is an empty read-only root holding only: the interpreter, its standard
library and site-packages, the system library directories that the interpreter and
compiled extensions load from, a minimal /dev, a /proc of its own PID namespace, and a
size-capped tmpfs work directory (TMPDIR and HOME point there): the only writable place.
Paths keep their host names, so the interpreter finds its installation as usual.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass

from nl2opt.sandbox.errors import SandboxUnavailable
from nl2opt.sandbox.seccomp_filter import seccomp_pipe

SANDBOX_UID = 65534  # "nobody": the script is not root even inside its user namespace
WORKDIR = "/sandbox"
INSTALL_HINT = ("Install bubblewrap >= 0.8 (Debian/Ubuntu: apt-get install bubblewrap; Fedora: "
                "dnf install bubblewrap) and allow unprivileged user namespaces (sysctl "
                "kernel.unprivileged_userns_clone=1 where that setting exists; in a container, "
                "a seccomp or AppArmor profile that permits them)")

# Run by the target interpreter: where its installation lives.
_LAYOUT_PROBE = """
import json, os, site, sys, sysconfig
dirs = [sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
dirs += site.getsitepackages()
files = []
if sysconfig.get_config_var("Py_ENABLE_SHARED"):
    files.append(os.path.join(sysconfig.get_config_var("LIBDIR"),
                              sysconfig.get_config_var("LDLIBRARY")))
if sys.prefix != sys.base_prefix:
    files.append(os.path.join(sys.prefix, "pyvenv.cfg"))
print(json.dumps({"paths": dirs + files, "multiarch": sysconfig.get_config_var("MULTIARCH")}))
"""


@dataclass(frozen=True)
class Layout:
    """What of the host the sandbox sees: real paths bound read-only at their own name, and
    the symbolic links that lead to them, recreated (location -> target)."""

    binds: tuple[str, ...]
    links: tuple[tuple[str, str], ...]


def bwrap_command(bwrap: str, layout: Layout, command: list[str], *, seccomp_fd: int,
                  workdir_bytes: int, allow_network: bool = False) -> list[str]:
    """The bwrap argv that runs `command` (a Python invocation) inside the sandbox."""
    argv = [bwrap, "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--disable-userns", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--hostname", "nl2opt-sandbox", "--die-with-parent",
            "--new-session", "--as-pid-1", "--cap-drop", "ALL"]
    if not allow_network:
        argv.append("--unshare-net")
    for path in layout.binds:
        argv += ["--ro-bind", path, path]
    for location, target in layout.links:
        argv += ["--symlink", target, location]
    argv += ["--dev", "/dev", "--proc", "/proc",
             "--size", str(workdir_bytes), "--tmpfs", WORKDIR]
    return argv + ["--chdir", WORKDIR, "--remount-ro", "/", "--seccomp", str(seccomp_fd),
                   "--", *command]


def isolation_problem(interpreter: str) -> str | None:
    """Why the sandbox cannot be built here (None when it works), in words."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    return _probe(bwrap, interpreter)


def unavailable_message(problem: str) -> str:
    return (f"nl2opt runs scripts only inside an OS-level sandbox (bubblewrap namespaces and a "
            f"seccomp filter), and it cannot build one here: {problem}. {INSTALL_HINT}. To run "
            f"a script you wrote and trust without any isolation, pass --unsafe-no-isolation "
            f"(run_sandboxed(..., unsafe_no_isolation=True)).")


@functools.cache
def _probe(bwrap: str, interpreter: str) -> str | None:
    """Start the real sandbox once with `python -c pass` (cached per process)."""
    try:
        layout = python_layout(interpreter)
        seccomp_fd = seccomp_pipe()
    except SandboxUnavailable as error:
        return str(error)
    argv = bwrap_command(bwrap, layout, [interpreter, "-I", "-c", "pass"],
                         seccomp_fd=seccomp_fd, workdir_bytes=1 << 20)
    try:
        probe = subprocess.run(argv, pass_fds=(seccomp_fd,), stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=60, check=False,
                               env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    except (OSError, subprocess.SubprocessError) as error:
        return f"bubblewrap could not be started ({error})"
    finally:
        os.close(seccomp_fd)
    if probe.returncode != 0:
        detail = probe.stderr.decode("utf-8", "replace").strip()[-500:]
        return f"bubblewrap failed (exit code {probe.returncode}): {detail or 'no message'}"
    return None


@functools.cache
def python_layout(interpreter: str) -> Layout:
    """The host paths that `interpreter` and its compiled extensions need, read-only."""
    try:
        probe = subprocess.run([interpreter, "-I", "-c", _LAYOUT_PROBE], capture_output=True,
                               text=True, timeout=60, check=True, stdin=subprocess.DEVNULL)
        info = json.loads(probe.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        raise SandboxUnavailable(f"cannot ask {interpreter} where its installation "
                                 f"is ({error})") from error
    paths = [path for path in info["paths"] if os.path.exists(path)] + [interpreter]
    paths += _library_dirs(info["multiarch"])
    loader = _elf_interpreter(os.path.realpath(interpreter))
    if loader:
        paths.append(loader)
    binds: set[str] = set()
    links: dict[str, str] = {}
    for path in paths:
        _mirror(os.path.abspath(path), binds, links)
    outermost = sorted(path for path in binds if not _inside(path, binds - {path}))
    kept = {location: target for location, target in links.items()
            if not _inside(location, outermost)}
    return Layout(binds=tuple(outermost), links=tuple(sorted(kept.items())))


def _library_dirs(multiarch: str | None) -> list[str]:
    """System shared-library directories (Debian multiarch, Fedora lib64, else /usr/lib)."""
    candidates = [f"/usr/lib/{multiarch}", f"/lib/{multiarch}"] if multiarch else []
    found = [path for path in candidates + ["/usr/lib64", "/lib64"] if os.path.isdir(path)]
    return found or ["/usr/lib", "/lib"]


def _mirror(path: str, binds: set[str], links: dict[str, str], depth: int = 0) -> None:
    """Make `path` resolve in the sandbox as on the host: every symbolic link on the way is
    recreated, and the real file or directory is bound."""
    parts = [part for part in path.split("/") if part]
    current = ""
    for index, part in enumerate(parts):
        current += "/" + part
        if os.path.islink(current) and depth < 40:
            target = os.readlink(current)
            links[current] = target
            rest = os.path.join(os.path.dirname(current), target, *parts[index + 1:])
            _mirror(os.path.normpath(rest), binds, links, depth + 1)
            return
    if current:  # never the whole root
        binds.add(current)


def _inside(path: str, roots) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _elf_interpreter(executable: str) -> str | None:
    """The dynamic loader a 64-bit little-endian ELF executable names (PT_INTERP)."""
    try:
        with open(executable, "rb") as handle:
            header = handle.read(64)
            if header[:6] != b"\x7fELF\x02\x01":
                return None
            table_offset, = struct.unpack_from("<Q", header, 0x20)
            entry_size, count = struct.unpack_from("<HH", header, 0x36)
            handle.seek(table_offset)
            table = handle.read(entry_size * count)
            for index in range(count):
                kind, = struct.unpack_from("<I", table, index * entry_size)
                if kind == 3:  # PT_INTERP
                    offset, = struct.unpack_from("<Q", table, index * entry_size + 8)
                    size, = struct.unpack_from("<Q", table, index * entry_size + 32)
                    handle.seek(offset)
                    return handle.read(size).rstrip(b"\0").decode() or None
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None
