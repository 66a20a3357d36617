"""Resource limits in one place: how large a model may grow, and how much memory a solve
may take.

A 270-byte formulation can ask for a product of two sums over 20,000 elements (about
400 million quadratic terms, tens of GB). `nl2opt.formulation.size` estimates a model's
size from the parsed expressions and set sizes, before anything is expanded, and refuses
models above `Limits.max_terms`; `memory_cap` bounds the address space of a solve in the
CLI and the app, so what the estimate misses ends in a clear error instead of swapping
the machine to a halt. Both limits can be changed with environment variables:

    NL2OPT_MAX_TERMS   terms + rows + columns + parameter cells + set elements
                       (default 40,000,000: about 1-2 GB on the array path)
    NL2OPT_MEMORY_MB   extra address space a solve may take; 0 switches the cap off
                       (default: half the machine's memory, at most 8192)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from nl2opt.errors import ModelTooLargeError, Nl2OptError

DEFAULT_MAX_TERMS = 40_000_000
MAX_TERMS_ENV = "NL2OPT_MAX_TERMS"
MEMORY_ENV = "NL2OPT_MEMORY_MB"


@dataclass(frozen=True)
class Limits:
    max_terms: int = DEFAULT_MAX_TERMS
    memory_mb: int = 0  # 0: no memory cap


def current_limits() -> Limits:
    """The limits in force: the defaults, overridden by the environment variables."""
    return Limits(max_terms=_env_int(MAX_TERMS_ENV, DEFAULT_MAX_TERMS, minimum=1),
                  memory_mb=_env_int(MEMORY_ENV, default_memory_mb(), minimum=0))


def default_memory_mb() -> int:
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (ValueError, OSError, AttributeError):
        return 8192
    return max(1024, min(8192, total // 2))


def _env_int(name: str, default: int, minimum: int) -> int:
    text = os.environ.get(name, "").strip().replace("_", "")
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise Nl2OptError(f"environment variable {name}={os.environ[name]!r} is not a whole "
                          f"number >= {minimum}; unset it to use the default ({default:,})")
    return value


def too_large(element: str, estimate: int, limit: int, detail: str = "") -> ModelTooLargeError:
    """The error for a model whose estimated size exceeds the limit."""
    return ModelTooLargeError(
        f"{element}: the model would hold about {estimate:,} entries (terms, rows, columns, "
        f"set elements and data cells){f'; {detail}' if detail else ''}. The limit is "
        f"{limit:,}. Make the model smaller (smaller sets, fewer indices per variable or "
        "constraint, no products of sums), or raise the limit with the environment variable "
        f"{MAX_TERMS_ENV} if this machine has the memory")


def out_of_memory(what: str, limit_mb: int) -> ModelTooLargeError:
    """The error for a MemoryError during `what` (e.g. 'Solving') under a `limit_mb` MB
    address-space limit (0: no limit known)."""
    cap = (f"than the {limit_mb:,} MB of address space this process may use" if limit_mb
           else "than is available")
    return ModelTooLargeError(
        f"{what} ran out of memory: the model needs more memory {cap}. Make the model smaller "
        f"(fewer index combinations), or raise the limit ({MEMORY_ENV}, or --memory-mb for "
        "nl2opt eval) if this machine has the memory")


# -- the memory cap --------------------------------------------------------------------------

_cap_lock = threading.Lock()
_cap_holders = 0
_cap_saved: tuple[int, int] | None = None


@contextmanager
def memory_cap(megabytes: int | None = None) -> Iterator[int]:
    """Cap this process's address space at its current size plus `megabytes` (default:
    `current_limits().memory_mb`; 0 = no cap) while the block runs, so that an oversized
    model raises MemoryError instead of exhausting the machine. A lower limit already in
    force (e.g. an evaluation worker's) stays. Yields the address-space limit in force, in
    MB (0 when there is none). Nested and concurrent blocks share the first block's cap."""
    budget = current_limits().memory_mb if megabytes is None else megabytes
    applied = budget > 0 and _apply_cap(budget)
    try:
        yield _limit_in_force_mb()
    finally:
        if applied:
            _release_cap()


@contextmanager
def memory_capped(what: str, megabytes: int | None = None) -> Iterator[int]:
    """`memory_cap`, with a MemoryError inside turned into a ModelTooLargeError that says
    `what` (e.g. 'Solving') ran out of memory and what to do."""
    with memory_cap(megabytes) as limit_mb:
        try:
            yield limit_mb
        except MemoryError:
            raise out_of_memory(what, limit_mb) from None


def _apply_cap(budget_mb: int) -> bool:
    global _cap_holders, _cap_saved
    try:
        import resource
    except ImportError:  # not on POSIX: no cap, the size estimate still applies
        return False
    with _cap_lock:
        if _cap_holders == 0:
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            wanted = _address_space() + budget_mb * 2**20
            capped = [limit for limit in (soft, hard) if limit != resource.RLIM_INFINITY]
            try:
                resource.setrlimit(resource.RLIMIT_AS, (min([wanted, *capped]), hard))
            except (ValueError, OSError):
                return False
            _cap_saved = (soft, hard)
        _cap_holders += 1
        return True


def _release_cap() -> None:
    global _cap_holders, _cap_saved
    import resource

    with _cap_lock:
        _cap_holders -= 1
        if _cap_holders == 0 and _cap_saved is not None:
            resource.setrlimit(resource.RLIMIT_AS, _cap_saved)
            _cap_saved = None


def _limit_in_force_mb() -> int:
    try:
        import resource
    except ImportError:
        return 0
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    return 0 if soft == resource.RLIM_INFINITY else soft // 2**20


def _address_space() -> int:
    """Bytes of address space this process uses now (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")
