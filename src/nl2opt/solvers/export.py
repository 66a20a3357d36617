"""The compiled model as an LP or MPS file, written by HiGHS with readable names.

Any solver reads these formats, so a model nl2opt built can be checked or solved
elsewhere. Columns and rows carry the user's names (`x(bread)`,
`capacity(oven_hours)`), reduced to the characters both formats accept.
Quadratic objectives are written too (HiGHS writes QMATRIX / the `[ ... ]/2`
part); constraints beyond linear cannot be, so such models are refused.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Literal

from nl2opt.errors import NotSupportedError
from nl2opt.formulation.arrays import ArrayModel, compile_arrays
from nl2opt.formulation.model import Formulation

Format = Literal["lp", "mps"]
_UNSAFE = re.compile(r"[^A-Za-z0-9_.]+")
_LEADING = re.compile(r"[0-9.]")


def model_text(formulation: Formulation, fmt: Format) -> str:
    """The formulation compiled and written in LP or MPS format."""
    from nl2opt.formulation.evaluate import NonlinearTerm

    try:
        model = compile_arrays(formulation)
    except NonlinearTerm as error:
        raise NotSupportedError(f"only linear and quadratic-objective models can be written "
                                f"as {fmt.upper()} ({error})") from None
    return arrays_text(model, fmt)


def arrays_text(model: ArrayModel, fmt: Format) -> str:
    from nl2opt.solvers.highs_direct import (
        checked,
        new_highs,
        set_option,
        to_highs_hessian,
        to_highs_lp,
    )

    lp = to_highs_lp(model)
    lp.col_names_ = unique_names(model.column_label(c) for c in range(model.num_cols))
    lp.row_names_ = unique_names(model.row_label(r) for r in range(model.num_rows))
    highs = new_highs()
    set_option(highs, "output_flag", False)
    checked(highs.passModel(lp), "the model (passModel)")
    if model.quadratic is not None and model.quadratic.nnz:
        checked(highs.passHessian(to_highs_hessian(model)), "the quadratic objective")
    handle, path = tempfile.mkstemp(prefix="nl2opt-model-", suffix=f".{fmt}")
    os.close(handle)
    try:
        checked(highs.writeModel(path), f"writing the model as {fmt.upper()}")
        with open(path, encoding="utf-8") as written:
            return written.read()
    finally:
        os.unlink(path)


def unique_names(labels) -> list[str]:
    """`name(el1,el2)` per label, made safe for LP/MPS and unique."""
    names: list[str] = []
    seen: set[str] = set()
    next_number: dict[str, int] = {}  # per text: where to go on counting (not from 2 again)
    for name, key in labels:
        text = _UNSAFE.sub("_", str(name))
        if key:
            text += "(" + ",".join(_UNSAFE.sub("_", str(k)) for k in key) + ")"
        if _LEADING.match(text):  # LP names may not start with a digit or a period
            text = "_" + text
        candidate, number = text, next_number.get(text, 2)
        while candidate in seen:
            candidate, number = f"{text}_{number}", number + 1
        next_number[text] = number
        seen.add(candidate)
        names.append(candidate)
    return names
