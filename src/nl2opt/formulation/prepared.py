"""One parse, one data resolution and one compile per formulation version.

Validation, classification and the backends all need the same parsed expressions, the
same resolved data and, on the array path, the same `ArrayModel`. `prepare` computes
each once per *version* of a formulation and keeps it in a small cache, so `solve`
validates (a trial compile) and then hands the very model that trial produced to
HiGHS or CP-SAT, instead of parsing, resolving and compiling a second time.

A version is a digest of the formulation's content (`content_of`), its data folder, the identity of every
CSV file it reads (device, inode, size, modification and change times: a rewritten file
is a new version) and the limits in force. Cached arrays are made read-only, so a caller that
writes into a shared model or parameter array fails loudly instead of changing what
the next solve sees; `compile_arrays` still returns a fresh, writable model.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

from nl2opt.errors import (
    CompileError,
    DataError,
    ExpressionError,
    FormulationError,
    ModelTooLargeError,
)
from nl2opt.formulation.data import ModelData, resolve_data
from nl2opt.formulation.datafiles import max_data_bytes, resolve_data_path
from nl2opt.formulation.limits import current_limits
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.parsed import ParsedFormulation, parse_partially
from nl2opt.formulation.size import SizeEstimate, check_model_size

if TYPE_CHECKING:  # arrays (and scipy.sparse) load on the first compile, not on import
    from nl2opt.formulation.arrays import ArrayModel

# Entries and bytes of arrays the cache may hold; the oldest go first.
MAX_ENTRIES = 32
MAX_BYTES = 256 * 2**20
# A parameter entry or set element written inline, as Python objects (a str key, a float
# and a dict slot: about 140 bytes measured for 200,000 entries).
INLINE_ENTRY_BYTES = 150


@dataclass
class Prepared:
    """What validation and compiling share for one formulation version."""

    formulation: Formulation
    parsed: ParsedFormulation | None  # every piece that parsed; None if the objective failed
    parse_errors: list[ExpressionError]
    data: ModelData | None
    data_error: DataError | ModelTooLargeError | None
    key: tuple | None = None
    _compiled: ArrayModel | Exception | None = field(default=None, repr=False)
    _size: SizeEstimate | Exception | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def complete(self) -> ParsedFormulation:
        """The parsed formulation; FormulationError with every parse error otherwise."""
        if self.parsed is None or self.parse_errors:
            raise FormulationError("the formulation has expression errors:\n"
                                   + "\n".join(str(e) for e in self.parse_errors),
                                   self.parse_errors)
        return self.parsed

    def resolved(self) -> ModelData:
        """The resolved data; raises what resolving raised."""
        if self.data_error is not None:
            raise self.data_error.with_traceback(None)
        assert self.data is not None
        return self.data

    def check_size(self, parsed: ParsedFormulation) -> SizeEstimate:
        """`check_model_size` for `parsed`, done once for the complete parse (validation
        and compiling both ask)."""
        if parsed is not self.parsed or self.parse_errors:
            return check_model_size(self.formulation, parsed, self.resolved().set_sizes())
        if self._size is None:
            try:
                self._size = check_model_size(self.formulation, parsed,
                                              self.resolved().set_sizes())
            except ModelTooLargeError as error:
                self._size = error
        if isinstance(self._size, Exception):
            raise self._size.with_traceback(None)
        return self._size

    def model(self) -> ArrayModel:
        """The compiled model (read-only arrays), compiled on first use; raises what
        `compile_arrays` raises, in the same order (parse errors, data, compiling)."""
        with self._lock:
            if self._compiled is None:
                self._compiled = self._compile()
                _CACHE.resize(self)
        if isinstance(self._compiled, Exception):
            raise self._compiled.with_traceback(None)
        return self._compiled

    def adopt(self, formulation: Formulation) -> None:
        """Compile `formulation` (of this version: its key was just computed) rather than
        the object first prepared, which its owner may have changed since; once compiled,
        the model no longer depends on either."""
        with self._lock:
            if self._compiled is None and formulation is not self.formulation:
                self.formulation, self._size = formulation, None

    def _compile(self) -> ArrayModel | Exception:
        from nl2opt.formulation.arrays import compile_arrays

        # Errors are kept too: a version that does not compile never will.
        try:
            parsed = self.complete
            self.check_size(parsed)
            model = compile_arrays(self.formulation, parsed, self.resolved(), size_checked=True)
        except (FormulationError, DataError, CompileError) as error:
            return error
        for array in _model_arrays(model):
            array.flags.writeable = False
        return model

    def nbytes(self) -> int:
        """Bytes held: the arrays, and the formulation's inline data (as Python objects,
        about INLINE_ENTRY_BYTES an entry: far more than its array)."""
        total = INLINE_ENTRY_BYTES * _inline_entries(self.formulation)
        if self.data is not None:
            total += sum(p.values.nbytes for p in self.data.params.values())
        if self._compiled is not None and not isinstance(self._compiled, Exception):
            total += sum(array.nbytes for array in _model_arrays(self._compiled))
        return total


def _inline_entries(formulation: Formulation) -> int:
    """Set elements and parameter entries written in the formulation itself."""
    count = sum(len(s.elements or ()) for s in formulation.sets)
    for param in formulation.parameters:
        if param.table is not None:
            count += len(param.table)
        elif isinstance(param.values, dict):
            count += _leaves(param.values)
    return count


def _leaves(mapping: dict) -> int:
    stack, count = [mapping], 0
    while stack:
        level = stack.pop()
        inner = [value for value in level.values() if isinstance(value, dict)]
        count += len(level) - len(inner)
        stack.extend(inner)
    return count


# The formulation one `solve` works on and its Prepared: every stage of that solve
# (validation, classification, the backend) finds it here without computing the key.
_CURRENT: ContextVar[tuple[Formulation, Prepared] | None] = ContextVar("nl2opt_prepared",
                                                                       default=None)


def prepare(formulation: Formulation) -> Prepared:
    """The shared parse, data and (lazily) compiled model of this formulation version."""
    current = _CURRENT.get()
    if current is not None and current[0] is formulation:
        return current[1]
    key = version_key(formulation)
    if key is not None:
        found = _CACHE.get(key)
        if found is not None:
            found.adopt(formulation)
            return found
    prepared = _prepare_now(formulation, key)
    if key is not None:
        _CACHE.put(prepared)
    return prepared


@contextmanager
def preparing(formulation: Formulation) -> Iterator[Prepared]:
    """Within the block, `prepare(formulation)` (this very object) is this Prepared: one
    version key per solve, not one per stage. The formulation must not change inside."""
    prepared = prepare(formulation)
    token = _CURRENT.set((formulation, prepared))
    try:
        yield prepared
    finally:
        _CURRENT.reset(token)


def prepared_model(formulation: Formulation) -> ArrayModel:
    """The compiled model of this version, shared and read-only (see module docs)."""
    return prepare(formulation).model()


def _prepare_now(formulation: Formulation, key: tuple | None) -> Prepared:
    parsed, errors = parse_partially(formulation)
    try:
        data, data_error = _read_only_data(resolve_data(formulation)), None
    except (DataError, ModelTooLargeError) as error:
        data, data_error = None, error
    return Prepared(formulation, parsed, errors, data, data_error, key)


def version_key(formulation: Formulation) -> tuple | None:
    """What identifies a formulation version; None when it cannot be told (a data file
    that is refused or missing: such a formulation is prepared afresh every time)."""
    try:
        stamps = tuple(_file_stamp(formulation, source.path)
                       for source in _csv_sources(formulation))
        limits = (current_limits().max_terms, max_data_bytes())
    except Exception:  # noqa: BLE001 - resolving reports the problem with its location
        return None
    # A digest of the content's repr: repr tells None, nan, inf, 1, 1.0, True and -0.0
    # apart, and the key stays 32 bytes for a million-row inline table.
    digest = hashlib.blake2b(repr(content_of(formulation)).encode(), digest_size=32)
    return digest.digest(), str(formulation.data_dir), stamps, limits


def content_of(value):
    """A formulation (or part) as nested tuples of its field values, in field order.
    Not pydantic's JSON: it writes NaN and the infinities as null, like None, and
    serializing 400 values takes a millisecond."""
    if isinstance(value, BaseModel):
        return (type(value).__name__, *map(content_of, value.__dict__.values()))
    if isinstance(value, dict):
        if set(map(type, value.values())) <= _PLAIN:
            return tuple(value.items())
        return tuple((key, content_of(item)) for key, item in value.items())
    if isinstance(value, list):
        if set(map(type, value)) <= _PLAIN:
            return tuple(value)
        return tuple(map(content_of, value))
    return value


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _csv_sources(formulation: Formulation) -> list:
    sources = [s.csv for s in formulation.sets if s.csv is not None]
    return sources + [p.csv for p in formulation.parameters if p.csv is not None]


def _file_stamp(formulation: Formulation, path: str) -> tuple:
    # The same confinement checks reading applies; a refused path raises (no key). The
    # change time too: a file rewritten in place with its size and mtime put back (os.utime,
    # touch -r, rsync -t) keeps its inode, but no program can set its ctime.
    info = os.stat(resolve_data_path(formulation.data_dir, path))
    return (path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
            info.st_ctime_ns)


def _read_only_data(data: ModelData) -> ModelData:
    for param in data.params.values():
        param.values.flags.writeable = False
    return data


def _model_arrays(model: ArrayModel) -> list[np.ndarray]:
    arrays = [model.col_lower, model.col_upper, model.integrality, model.objective,
              model.row_lower, model.row_upper, model.matrix.data, model.matrix.indices,
              model.matrix.indptr]
    if model.quadratic is not None:
        arrays += [model.quadratic.data, model.quadratic.row, model.quadratic.col]
    return arrays


class _Cache:
    """A thread-safe LRU of Prepared entries, bounded in entries and array bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[tuple, tuple[Prepared, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Prepared | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]

    def put(self, prepared: Prepared) -> None:
        with self._lock:
            self._set(prepared)
            self._evict()

    def resize(self, prepared: Prepared) -> None:
        """Count a newly compiled model (only if its entry is still cached)."""
        with self._lock:
            found = self._entries.get(prepared.key) if prepared.key is not None else None
            if found is not None and found[0] is prepared:
                self._set(prepared)
                self._evict()

    def _set(self, prepared: Prepared) -> None:
        old = self._entries.get(prepared.key)
        if old is not None:
            self._bytes -= old[1]
        size = prepared.nbytes()
        self._entries[prepared.key] = (prepared, size)
        self._entries.move_to_end(prepared.key)
        self._bytes += size

    def _evict(self) -> None:
        while self._entries and (len(self._entries) > self.max_entries
                                 or self._bytes > self.max_bytes):
            _, (_, size) = self._entries.popitem(last=False)
            self._bytes -= size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


_CACHE = _Cache(MAX_ENTRIES, MAX_BYTES)


def clear_cache() -> None:
    """Forget every prepared formulation (tests, or to free memory at once)."""
    _CACHE.clear()

