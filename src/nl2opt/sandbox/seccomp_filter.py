"""The seccomp filter bubblewrap loads before it starts the sandboxed Python.

The filter allows every system call except those below, which fail with EPERM. It is
compiled to BPF by libseccomp (through its official Python binding `seccomp` when that is
installed, else `pyseccomp`, a ctypes binding with the same API), once per process, and
handed to `bwrap --seccomp FD`. libseccomp also kills the process on system calls of a
foreign architecture (x32 or i386 calls on x86_64), so the list cannot be side-stepped.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile

from nl2opt.sandbox.errors import SandboxUnavailable

CLONE_THREAD = 0x00010000
TIOCSTI, TIOCLINUX = 0x5412, 0x541C

# Calls no model script needs that reach beyond the sandbox or widen the kernel's surface.
DENIED_SYSCALLS = (
    # Other processes: tracing, reading or writing their memory, pidfd handles (they raise
    # no audit event), starting processes (threads stay allowed: see the clone rule).
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "fork", "vfork",
    # Device nodes, FIFOs, mounts and namespaces.
    "mknod", "mknodat", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "name_to_handle_at", "open_by_handle_at", "quotactl", "quotactl_fd", "swapon", "swapoff",
    "acct", "fanotify_init",
    # Kernel interfaces with a history of privilege escalations, and host-wide settings.
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "reboot", "syslog", "iopl", "ioperm",
    "uselib", "ustat", "sysfs", "_sysctl", "vhangup", "nfsservctl", "lookup_dcookie",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
    "setdomainname",
)


def _binding():
    try:
        import seccomp  # libseccomp's own binding (Debian: python3-seccomp)

        return seccomp
    except ImportError:
        pass
    try:
        import pyseccomp
    except ImportError as error:
        raise SandboxUnavailable("the Python package pyseccomp is not installed (pip install "
                                 "pyseccomp)") from error
    except (OSError, RuntimeError) as error:  # it loads libseccomp.so.2 on import
        raise SandboxUnavailable(f"libseccomp cannot be loaded ({error}); install it: "
                                 "apt-get install libseccomp2 (Debian/Ubuntu) or dnf install "
                                 "libseccomp (Fedora)") from error
    return pyseccomp


def _add_rules(lib, rules) -> None:
    for name in DENIED_SYSCALLS:
        try:
            rules.add_rule(lib.ERRNO(errno.EPERM), name)
        except (OSError, RuntimeError, ValueError):
            pass  # not a system call of this architecture (fork or ioperm on aarch64)
    # fork() and posix_spawn() are clone() calls without CLONE_THREAD; threads keep working.
    rules.add_rule(lib.ERRNO(errno.EPERM), "clone", lib.Arg(0, lib.MASKED_EQ, CLONE_THREAD, 0))
    # clone3's flags sit in memory a filter cannot read: ENOSYS makes glibc fall back to clone.
    rules.add_rule(lib.ERRNO(errno.ENOSYS), "clone3")
    for request in (TIOCSTI, TIOCLINUX):  # typing into a terminal, as bubblewrap advises
        rules.add_rule(lib.ERRNO(errno.EPERM), "ioctl",
                       lib.Arg(1, lib.MASKED_EQ, 0xFFFFFFFF, request))


@functools.cache
def seccomp_program() -> bytes:
    """The filter as BPF bytes for `bwrap --seccomp` (built once per process)."""
    lib = _binding()
    rules = lib.SyscallFilter(lib.ALLOW)
    _add_rules(lib, rules)
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.seek(0)
        return handle.read()


def seccomp_pipe() -> int:
    """The read end of a pipe holding the filter, for `bwrap --seccomp FD` (close it after)."""
    program = seccomp_program()
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, program)  # a few hundred bytes: far below the pipe's buffer
    finally:
        os.close(write_end)
    return read_end
