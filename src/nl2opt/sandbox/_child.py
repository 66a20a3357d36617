"""Bootstrap of nl2opt's sandbox child: files, limits, audit hook, result hook, user script.

nl2opt.sandbox passes this file's source to `python -I -B -u -c SOURCE CONFIG_JSON`; it
must not import nl2opt. Importing it as a module does nothing (see the __main__ guard).

The audit hook is an extra layer that turns honest mistakes into clear messages; it is not
the boundary (user code in the same interpreter can disable it). The boundary is the OS
sandbox around this process (nl2opt.sandbox.bubblewrap). Everything the hook uses is
captured in closure variables at install time, so that rebinding module attributes
(os.path.realpath) or builtins (len, isinstance) does not mislead it.
"""

import json
import os
import resource
import sys


def _limit(kind, soft, hard=None):
    hard = soft if hard is None else hard
    _, old_hard = resource.getrlimit(kind)
    if old_hard != resource.RLIM_INFINITY:
        hard = min(hard, old_hard)
        soft = min(soft, hard)
    resource.setrlimit(kind, (soft, hard))


def _unpack_files(fd, workdir):
    """Write the parent's files (a JSON header line of [name, size] pairs, then the bytes)."""
    with os.fdopen(fd, "rb") as archive:
        for name, size in json.loads(archive.readline()):
            target = os.path.join(workdir, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(archive.read(size))


def _close_other_files(keep):
    """Close inherited descriptors other than stdio and `keep` (the result pipe)."""
    os.closerange(3, keep)
    os.closerange(keep + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    os.set_inheritable(keep, False)


def _set_limits(cfg):
    # The soft CPU limit sends SIGXCPU and the hard one, cpu_grace seconds later, SIGKILL.
    # (As PID 1 of its namespace the child ignores SIGXCPU, so there the grace is 0.)
    _limit(resource.RLIMIT_CPU, cfg["cpu"], cfg["cpu"] + cfg["cpu_grace"])
    _limit(resource.RLIMIT_AS, cfg["memory"])
    _limit(resource.RLIMIT_FSIZE, cfg["fsize"])
    _limit(resource.RLIMIT_NOFILE, cfg["nofile"])
    if cfg["nproc"] is not None:  # not enforced for root: see the guard
        _limit(resource.RLIMIT_NPROC, cfg["nproc"])
    _limit(resource.RLIMIT_CORE, 0)


def _disarm_process_spawning():
    import _posixsubprocess
    import ctypes  # noqa: F401  pyomo imports ctypes; after the guard its loads are blocked

    def no_fork_exec(*args, **kwargs):
        raise PermissionError("nl2opt sandbox: starting processes is blocked (fork_exec).")

    # fork_exec raises no audit event of its own (multiprocessing 'spawn' calls it).
    _posixsubprocess.fork_exec = no_fork_exec


def _install_guard(workdir, read_roots, allow_network):
    """Add the audit hook that turns forbidden operations into PermissionError."""
    import pathlib
    import stat
    import types

    lstat, readlink, getcwd, getpid = os.lstat, os.readlink, os.getcwd, os.getpid
    is_link = stat.S_ISLNK
    _str, _bytes, _int, _type, _isinstance, _len = str, bytes, int, type, isinstance, len
    _denied, _os_error = PermissionError, OSError
    path_types = (pathlib.PosixPath, pathlib.PurePosixPath)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    own_proc = f"/proc/{getpid()}"
    read_ok = tuple(read_roots) + (workdir, own_proc, "/sys/devices/system/cpu",
                                   "/usr/share/zoneinfo")
    read_files = frozenset({"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom",
                            "/proc/cpuinfo", "/proc/meminfo"})
    process_events = frozenset({"os.system", "os.exec", "os.posix_spawn", "os.spawn",
                                "os.fork", "os.forkpty", "subprocess.Popen", "pty.spawn",
                                "os.killpg", "signal.pthread_kill"})
    blocked_events = frozenset({"sys.settrace", "sys.setprofile", "gc.get_objects",
                                "gc.get_referrers", "gc.get_referents", "resource.setrlimit",
                                "resource.prlimit", "sys.remote_exec"})
    # event -> (indexes of paths that get written, indexes of dir_fd arguments). Read-only:
    # user code can reach the hook's frame through a traceback and must not edit its tables.
    write_events = types.MappingProxyType({
        "os.remove": ((0,), (1,)), "os.rmdir": ((0,), (1,)), "os.mkdir": ((0,), (2,)),
        "os.rename": ((0, 1), (2, 3)), "os.link": ((0, 1), (2, 3)), "os.symlink": ((1,), (2,)),
        "os.chmod": ((0,), (2,)), "os.chown": ((0,), (3,)), "os.utime": ((0,), (3,)),
        "os.truncate": ((0,), ()), "os.setxattr": ((0,), ()), "os.removexattr": ((0,), ()),
        "os.chflags": ((0,), ()), "os.lchflags": ((0,), ()), "shutil.rmtree": ((0,), ()),
    })
    read_events = frozenset({"os.listdir", "os.scandir", "os.getxattr", "os.listxattr"})

    def deny(text):
        raise _denied("nl2opt sandbox: " + text)

    def as_text(path):
        if _type(path) is _str:
            return path
        if _type(path) is _bytes:
            return path.decode("utf-8", "surrogateescape")
        if _type(path) in path_types:
            return _str(path)
        deny(f"file access through a {_type(path).__name__} path object is blocked; pass a "
             "str path.")

    def resolve(path):
        # realpath with captured C functions only: symlinks cannot smuggle a path past us.
        if not path.startswith("/"):
            path = getcwd() + "/" + path
        pending = path.split("/")[::-1]
        resolved, hops = "", 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                resolved = resolved[:resolved.rfind("/")] if resolved else ""
                continue
            candidate = resolved + "/" + part
            try:
                is_symlink = is_link(lstat(candidate).st_mode)
            except _os_error:
                is_symlink = False
            if not is_symlink:
                resolved = candidate
                continue
            hops += 1
            if hops > 40:
                deny(f"too many symbolic links in {path!r}.")
            target = readlink(candidate)
            if target.startswith("/"):
                resolved = ""
            pending.extend(target.split("/")[::-1])
        return resolved or "/"

    def inside(path, roots):
        for root in roots:
            if path == root or path.startswith(root + "/"):
                return True
        return False

    def check_read(raw):
        if raw is None:
            raw = "."
        if _type(raw) is _int:
            return
        path = resolve(as_text(raw))
        if path in read_files or inside(path, read_ok):
            return
        deny(f"reading {path!r} is blocked; only files in the working directory and Python's "
             "own installation can be read. Pass data in the script or as sandbox files.")

    def check_write(raw, dir_fds=()):
        if _type(raw) is _int:
            return
        text = as_text(raw)
        if not text.startswith("/"):
            for dir_fd in dir_fds:
                if dir_fd is not None and dir_fd != -1:
                    deny("a relative path with dir_fd is blocked (the directory cannot be "
                         "checked); use a path relative to the working directory.")
        path = resolve(text)
        if path == "/dev/null" or inside(path, (workdir,)):
            return
        deny(f"writing {path!r} is blocked; write only inside the working directory "
             "(use relative paths).")

    def guard(event, args):
        if event == "open":
            path, mode, flags = args
            if mode is None and _type(path) is not _int and not as_text(path).startswith("/"):
                # os.open may carry a dir_fd that the event does not show.
                deny("os.open with a relative path is blocked; use open() or an absolute path.")
            writes = (_isinstance(flags, _int) and flags & write_flags) or (
                _isinstance(mode, _str) and ("w" in mode or "a" in mode or "x" in mode
                                             or "+" in mode))
            (check_write if writes else check_read)(path)
        elif event in write_events:
            indexes, fd_indexes = write_events[event]
            dir_fds = [args[i] for i in fd_indexes if i < _len(args)]
            for index in indexes:
                check_write(args[index], dir_fds)
        elif event in read_events:
            check_read(args[0] if args else None)
        elif event in process_events:
            deny(f"starting or signalling processes is blocked ({event}). Call solvers through "
                 "their Python API (highspy, pyomo appsi_highs, pyscipopt, ortools).")
        elif event == "os.kill":
            if args[0] not in (0, getpid()):
                deny("signalling other processes is blocked (os.kill).")
        elif event.startswith("socket.") and not allow_network and event != "socket.gethostname":
            deny(f"network access is blocked ({event}). Put the data the model needs in the "
                 "script or pass it as sandbox files.")
        elif event.startswith("ctypes."):
            deny(f"ctypes is blocked ({event}).")
        elif event == "import" and args[0] == "_posixsubprocess":
            deny("re-importing _posixsubprocess is blocked.")
        elif event in blocked_events:
            deny(f"{event} is blocked.")

    sys.addaudithook(guard)


def _report_function(result_fd, limit):
    """nl2opt_report, which sends the result to the parent through a pipe (never a file the
    parent would open): one frame, b"<length>\\n<json>", per call; the last one wins."""
    import builtins

    def plain(value):
        if hasattr(value, "tolist"):
            return value.tolist()
        if hasattr(value, "item"):
            return value.item()
        raise TypeError(f"nl2opt_report: {value!r} is not JSON-serializable; report numbers, "
                        "strings, lists and dicts.")

    def nl2opt_report(**fields):
        """Report the run's result (JSON-serializable fields); the last call wins."""
        data = json.dumps(fields, default=plain).encode("utf-8")
        if len(data) > limit:
            raise ValueError(f"nl2opt_report: result is {len(data)} bytes, more than the "
                             f"{limit} allowed; report only nonzero values or a summary.")
        frame = memoryview(str(len(data)).encode() + b"\n" + data)
        while frame:
            frame = frame[os.write(result_fd, frame):]

    builtins.nl2opt_report = nl2opt_report
    return nl2opt_report


def _main():
    """Unpack, limit, disarm, guard, then run the user's script as __main__."""
    cfg = json.loads(sys.argv[1])
    workdir = cfg["workdir"]
    _unpack_files(cfg["files_fd"], workdir)
    _close_other_files(cfg["result_fd"])
    _set_limits(cfg)
    _disarm_process_spawning()
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.update(p for p in sys.path if os.path.isabs(p) and os.path.exists(p))
    roots = sorted(os.path.realpath(p) for p in roots)
    roots = [r for r in roots if r != "/"]
    report = _report_function(cfg["result_fd"], cfg["result_cap"])
    script = os.path.join(workdir, cfg["script"])
    sys.path.insert(0, workdir)
    sys.argv = [script]
    _install_guard(workdir, roots, cfg["allow_network"])
    import runpy
    runpy.run_path(script, init_globals={"nl2opt_report": report}, run_name="__main__")


if __name__ == "__main__":
    _main()
