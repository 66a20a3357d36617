"""How a variable's bound reads its index, one rule for validation and every compiler.

In a bound, the variable's index set names stand for the current element: for x over
(P,), `"upper": "capacity[P]"`. A bare parameter indexed over exactly the variable's
sets, `"upper": "capacity"`, applies element-wise, position by position. Over a set
that appears twice (x over (N, N)) the set name cannot say which position it means,
so there the bare form is the only way to use the index; `cap[N, N]` is refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from nl2opt.errors import CompileError
from nl2opt.formulation import expr as E


def position_names(index: Sequence[str]) -> list[str]:
    """The name standing for each position of a variable's index in its bounds: the set's
    name, or for a set that appears more than once a name no formulation can write."""
    counts = Counter(index)
    return [name if counts[name] == 1 else f"{name}#{k}" for k, name in enumerate(index)]


def element_bound(tree: E.Expr, index: Sequence[str],
                  param_index: Mapping[str, Sequence[str]]) -> E.Expr:
    """The bound with a bare element-wise parameter written out as `cap[<positions>]`."""
    if _is_bare_parameter(tree, param_index) and tuple(param_index[tree.id]) == tuple(index):
        return E.Index(tree.id, tuple(E.Name(n) for n in position_names(index)), tree.span)
    return tree


def bound_reading_problem(tree: E.Expr, variable: str, index: Sequence[str],
                          param_index: Mapping[str, Sequence[str]]) -> tuple[str, str] | None:
    """(issue code, message) when the bound cannot be read element-wise, else None."""
    declared = f"({', '.join(index)})"
    if _is_bare_parameter(tree, param_index) and tuple(param_index[tree.id]) != tuple(index):
        message = (f"parameter '{tree.id}' is indexed over "
                   f"({', '.join(param_index[tree.id])}) but '{variable}' over {declared}; a "
                   "bare parameter applies element-wise only over the variable's own sets. "
                   f"Write {tree.id}[...] with one index per set, or put the bound in a "
                   "constraint")
        return "missing-index", message
    repeated = {s for s, n in Counter(index).items() if n > 1}
    named = _value_names(tree) & repeated
    if named:
        message = (f"'{variable}' is indexed over {declared}, so '{min(named)}' in its "
                   "bound cannot say which position it means. Write a bare parameter "
                   f"indexed over {declared} ({_bare_example(tree, index, param_index)}), "
                   "which applies position by position, or put the bound in a constraint "
                   f"with forall {_forall_example(index)}")
        return "ambiguous-bound", message
    return None


def readable_bound(bound, variable: str, index: Sequence[str], params: Mapping) -> E.Expr:
    """For the compilers: the tree of `bound` (a ParsedText) to evaluate with the
    position names bound, or a CompileError saying what to write instead. `params`: the
    resolved parameters (anything with an `index`) by name."""
    param_index = {name: param.index for name, param in params.items()}
    problem = bound_reading_problem(bound.tree, variable, index, param_index)
    if problem:
        raise CompileError(f"{bound.element}: {problem[1]}")
    return element_bound(bound.tree, index, param_index)


def _value_names(tree: E.Expr) -> set[str]:
    """Names used as values (`len(N)` names a set, not an element)."""
    counted = {id(arg) for node in E.walk(tree) if isinstance(node, E.Call)
               and node.func == "len" for arg in node.args}
    return {node.id for node in E.walk(tree) if isinstance(node, E.Name)
            and id(node) not in counted}


def _is_bare_parameter(tree: E.Expr, param_index: Mapping[str, Sequence[str]]) -> bool:
    return isinstance(tree, E.Name) and bool(param_index.get(tree.id))


def _bare_example(tree: E.Expr, index: Sequence[str],
                  param_index: Mapping[str, Sequence[str]]) -> str:
    same = [node.name for node in E.walk(tree) if isinstance(node, E.Index)
            and tuple(param_index.get(node.name, ())) == tuple(index)]
    return f"just '{same[0]}'" if same else "e.g. 'cap' for a parameter cap declared so"


def _forall_example(index: Sequence[str]) -> str:
    letters = [f"{s.lower()}{k + 1}" for k, s in enumerate(index)]
    return "[" + ", ".join(f"'{i} in {s}'" for i, s in zip(letters, index)) + "]"
