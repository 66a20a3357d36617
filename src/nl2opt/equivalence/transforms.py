"""Labelled variants of a formulation, for testing and evaluating equivalence checks.

Every transformation works on the nl2opt formulation (JSON level), rewriting
parsed expression trees and printing them back with `to_source`, so the variants
also exercise the compiler. Equivalent ones: renaming, index permutation, slack
variables, a valid inequality, objective scaling and shifting, flipping the
sense, linear substitution, binary expansion of a bounded integer, and the
objective moved into a constraint with an epigraph variable. Non-equivalent
ones: dropped constraint, changed coefficient, relaxed integrality, loosened
constraint, and the objective replaced by a constant. A non-equivalent variant
is kept only when a solve confirms that it changes the set of optimal solutions
(a different optimal value under the same objective, or a different status);
otherwise the transformation is reported as not applicable.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, fields, is_dataclass, replace

from nl2opt.equivalence.instance import InstanceModel, from_formulation
from nl2opt.equivalence.solving import Solution, solve
from nl2opt.equivalence.verify import objective_matches
from nl2opt.errors import Nl2OptError
from nl2opt.formulation import expr as E
from nl2opt.formulation.model import Formulation, load_formulation
from nl2opt.formulation.parser import parse_expression, parse_relation

EQUIVALENT = ("rename", "permute_index", "slack", "valid_inequality", "objective_scale_shift",
              "objective_flip_sense", "linear_substitution", "binary_expansion", "epigraph")
NOT_EQUIVALENT = ("drop_constraint", "change_coefficient", "relax_integrality",
                  "loosen_constraint", "constant_objective")


@dataclass
class Variant:
    """A labelled variant: a formulation, or an instance for instance-level edits."""

    transform: str
    equivalent: bool
    formulation: Formulation | None
    note: str = ""
    instance: InstanceModel | None = None

    @property
    def model(self):
        return self.formulation if self.formulation is not None else self.instance


@dataclass
class _Context:
    base: InstanceModel
    optimum: Solution
    data_dir: object


def generate_variants(formulation: Formulation, only: tuple[str, ...] | None = None
                      ) -> tuple[list[Variant], dict[str, str]]:
    """(variants, {transform: why it was not applicable})."""
    base = from_formulation(formulation)
    context = _Context(base, solve(base), formulation.data_dir)
    variants, skipped = [], {}
    for name in only or EQUIVALENT + NOT_EQUIVALENT:
        try:
            made = _TRANSFORMS[name](formulation.to_dict(), context)
        except (Nl2OptError, ValueError) as exc:
            skipped[name] = f"failed: {exc}".splitlines()[0]
            continue
        if isinstance(made, str):
            skipped[name] = made
            continue
        data, note = made
        if isinstance(data, InstanceModel):
            variants.append(Variant(name, name in EQUIVALENT, None, note, instance=data))
            continue
        variant = load_formulation(data).with_data_dir(formulation.data_dir)
        variants.append(Variant(name, name in EQUIVALENT, variant, note))
    return variants, skipped


# --- tree helpers -----------------------------------------------------------------------

def _map_tree(node, replace_node):
    """Rebuild `node` bottom-up-free: `replace_node` may return a replacement or None."""
    new = replace_node(node)
    if new is not None:
        return new
    if not is_dataclass(node):
        return node
    changes = {}
    for f in fields(node):
        value = getattr(node, f.name)
        if is_dataclass(value):
            changes[f.name] = _map_tree(value, replace_node)
        elif isinstance(value, tuple) and value and is_dataclass(value[0]):
            changes[f.name] = tuple(_map_tree(v, replace_node) for v in value)
    return replace(node, **changes) if changes else node


def _rewrite(text: str, replace_node, relation: bool = False) -> str:
    tree = parse_relation(text) if relation else parse_expression(text)
    return E.to_source(_map_tree(tree, replace_node))


def _variable_ref(names: set[str]):
    def matches(node):
        return ((isinstance(node, E.Name) and node.id in names)
                or (isinstance(node, E.Index) and node.name in names))
    return matches


def _substitute(data: dict, name: str, build) -> None:
    """Replace every reference to variable `name` in objective and constraints by
    build(reference node) (a tree)."""
    is_ref = _variable_ref({name})

    def swap(node):
        return build(node) if is_ref(node) else None
    data["objective"]["expression"] = _rewrite(data["objective"]["expression"], swap)
    for c in data.get("constraints", []):
        c["expression"] = _rewrite(c["expression"], swap, relation=True)


def _parse_tree(text: str):
    return parse_expression(text)


def _with_same_index(template: str, reference) -> object:
    """Parse `template` with `REF` standing for the reference node."""
    tree = parse_expression(template)
    return _map_tree(tree, lambda n: reference if isinstance(n, E.Name) and n.id == "REF"
                     else None)


def _forall_index(constraint: dict) -> list[tuple[str, str]]:
    return [tuple(part.strip() for part in text.split(" in ")) for text in
            constraint.get("forall", [])]


# --- equivalent transformations -----------------------------------------------------------

def _rename(data, ctx):
    names = {v["name"]: f"var_{k}" for k, v in enumerate(data["variables"])}
    for old, new in names.items():
        _substitute(data, old, lambda ref, new=new: (E.Name(new) if isinstance(ref, E.Name)
                                                     else E.Index(new, ref.indices)))
    for v in data["variables"]:
        v["name"] = names[v["name"]]
    return data, "variables renamed var_0, var_1, ..."


def _permute_index(data, ctx):
    changed = 0
    for s in data.get("sets", []):
        if "range" in s and s["range"][1] > s["range"][0]:
            s["elements"] = list(range(s["range"][1], s["range"][0] - 1, -1))
            del s["range"]
            changed += 1
        elif "elements" in s and len(s["elements"]) > 1:
            s["elements"] = list(reversed(s["elements"]))
            changed += 1
    return (data, f"{changed} set(s) listed in reverse order") if changed else \
        "no set with listed elements to permute"


def _slack(data, ctx):
    added = 0
    for c in data.get("constraints", []):
        tree = parse_relation(c["expression"])
        if len(tree.ops) != 1 or tree.ops[0] == "==":
            continue
        index = _forall_index(c)
        slack = f"slack_{c['name']}"
        ref = (f"{slack}[{', '.join(i for i, _ in index)}]" if index else slack)
        lhs, rhs = (E.to_source(o) for o in tree.operands)
        sign = "+" if tree.ops[0] in ("<=", "<") else "-"
        c["expression"] = f"{lhs} {sign} {ref} == {rhs}"
        data["variables"].append({"name": slack, "index": [s for _, s in index],
                                  "type": "continuous", "lower": 0})
        added += 1
    return (data, f"{added} inequality families turned into equalities with slacks") \
        if added else "no inequality constraints"


def _valid_inequality(data, ctx):
    base, optimum = ctx.base, ctx.optimum
    if base.has_quadratic or not optimum.ok:
        return "needs a linear objective and an optimum"
    margin = 0.01 * abs(optimum.objective) + 1.0
    objective = data["objective"]["expression"]
    if data["objective"]["sense"] == "minimize":
        text = f"{objective} >= {optimum.objective - margin!r}"
    else:
        text = f"{objective} <= {optimum.objective + margin!r}"
    data.setdefault("constraints", []).append({"name": "objective_cut", "expression": text})
    return data, "added a cut on the objective, valid for every feasible point"


def _objective_scale_shift(data, ctx):
    data["objective"]["expression"] = f"2.5 * ({data['objective']['expression']}) + 7"
    return data, "objective scaled by 2.5 and shifted by 7"


def _objective_flip_sense(data, ctx):
    sense = data["objective"]["sense"]
    data["objective"]["sense"] = "maximize" if sense == "minimize" else "minimize"
    data["objective"]["expression"] = f"-({data['objective']['expression']})"
    return data, f"{sense} f written as the opposite sense of -f"


def _linear_substitution(data, ctx):
    for v in data["variables"]:
        if v.get("type", "continuous") == "binary":
            continue
        integer = v.get("type") == "integer"
        scale, shift = (1, 3) if integer else (2, 1)
        template = f"{scale} * REF + {shift}"
        _substitute(data, v["name"], functools.partial(_with_same_index, template))
        for key in ("lower", "upper"):
            bound = v.get(key, 0 if key == "lower" else None)
            if bound is None:
                continue
            v[key] = ((bound - shift) / scale if isinstance(bound, (int, float))
                      else f"(({bound}) - {shift}) / {scale}")
        if "lower" not in v:
            v["lower"] = -shift / scale
        return data, f"{v['name']} replaced by {scale}*{v['name']}' + {shift}"
    return "no continuous or integer variable"


def _binary_expansion(data, ctx):
    sets = {s["name"] for s in data.get("sets", [])}
    for v in data["variables"]:
        if v.get("type") != "integer":
            continue
        base = ctx.base
        columns = [k for k, (n, _) in enumerate(base.labels) if n == v["name"]]
        top = max((base.upper[k] for k in columns), default=math.inf)
        low = min((base.lower[k] for k in columns), default=0.0)
        if not math.isfinite(top) or low < 0 or top > 2 ** 20:
            continue
        bits = max(1, int(top).bit_length())
        _expand_in_binary(data, v, bits, sets)
        return data, f"{v['name']} written in binary with {bits} bits"
    return "no bounded nonnegative integer variable"


def _expand_in_binary(data: dict, v: dict, bits: int, sets: set[str]) -> None:
    """Replace integer variable `v` by binaries v_bit[..., b], b < bits; its bounds become
    constraints on the expansion."""
    name, index = v["name"], v.get("index", [])
    bit_set, bit_var = f"{name}_bits", f"{name}_bit"
    data["sets"] = data.get("sets", []) + [{"name": bit_set, "range": [0, bits - 1]}]

    def expand(ref):
        return _with_same_index(f"sum(2 ** bb_ * {bit_var}[{_index_text(ref, 'bb_')}] "
                                f"for bb_ in {bit_set})", ref)
    _substitute(data, name, expand)
    index_names = [f"i{k}_" for k in range(len(index))]
    ref = f"{name}[{', '.join(index_names)}]" if index_names else name
    is_ref = _variable_ref({name})
    expansion = _rewrite(ref, lambda n: expand(n) if is_ref(n) else None)

    def element_names(node):
        if isinstance(node, E.Name) and node.id in index and node.id in sets:
            return E.Name(index_names[index.index(node.id)])
        return None
    bounds = []
    for key, default in (("lower", 0), ("upper", None)):
        bound = v.get(key, default)
        if bound is None or (key == "lower" and bound == 0):
            continue
        text = _rewrite(str(bound), element_names)
        bounds.append(f"{expansion} {'>=' if key == 'lower' else '<='} {text}")
    forall = [f"{i} in {s}" for i, s in zip(index_names, index)]
    for k, text in enumerate(bounds):
        data.setdefault("constraints", []).append(
            {"name": f"{name}_bound_{k}", "forall": forall, "expression": text})
    data["variables"] = [w for w in data["variables"] if w is not v] + [
        {"name": bit_var, "index": index + [bit_set], "type": "binary"}]


def _index_text(ref, extra: str) -> str:
    parts = [E.to_source(i) for i in ref.indices] if isinstance(ref, E.Index) else []
    return ", ".join(parts + [extra])


def _epigraph(data, ctx):
    if ctx.base.has_quadratic:
        return "a quadratic objective would become a quadratic constraint"
    objective = data["objective"]["expression"]
    op = ">=" if data["objective"]["sense"] == "minimize" else "<="
    data["variables"].append({"name": "objective_value", "lower": None})
    data.setdefault("constraints", []).append(
        {"name": "objective_epigraph", "expression": f"objective_value {op} {objective}"})
    data["objective"]["expression"] = "objective_value"
    return data, "objective moved into a constraint on an epigraph variable"


# --- non-equivalent transformations -----------------------------------------------------

def _changes_optimum(data, ctx: _Context) -> bool:
    """Same objective, different optimal value or status: the optimal sets differ."""
    optimum = ctx.optimum
    model = data if isinstance(data, InstanceModel) else from_formulation(
        load_formulation(data).with_data_dir(ctx.data_dir))
    found = solve(model)
    if found.status != optimum.status:
        return True
    return found.ok and not objective_matches(found.objective, optimum.objective)


def _first_that_changes(data, ctx, edits, what: str):
    for label, edit in edits:
        candidate = copy.deepcopy(data)
        if edit(candidate) and _changes_optimum(candidate, ctx):
            return candidate, f"{what} ({label})"
    return f"no {what} changes the optimum"


def _drop_constraint(data, ctx):
    def dropper(k):
        return lambda d: d["constraints"].pop(k) is not None
    return _first_that_changes(data, ctx, [(c["name"], dropper(k)) for k, c in
                                               enumerate(data.get("constraints", []))],
                               "dropped constraint")


def _change_coefficient(data, ctx):
    """Instance level: one matrix entry (one variable in one constraint row) x 1.5, so no
    rescaling of a whole variable can undo it."""
    base = ctx.base
    matrix = base.matrix.tocsr()
    for row in range(base.num_rows):
        for k in range(matrix.indptr[row], matrix.indptr[row + 1]):
            changed = copy.deepcopy(base)
            changed.matrix = matrix.copy()
            changed.matrix.data[k] *= 1.5
            changed.source = f"{base.source} (changed coefficient)"
            if _changes_optimum(changed, ctx):
                column = base.names[matrix.indices[k]]
                return changed, (f"coefficient of {column} in {base.row_names[row]} scaled "
                                 "by 1.5 (instance level)")
    return "no single coefficient change alters the optimum"


def _relax_integrality(data, ctx):
    def relax(d):
        changed = False
        for v in d["variables"]:
            if v.get("type") in ("integer", "binary"):
                if v["type"] == "binary":
                    v["lower"], v["upper"] = 0, 1
                v["type"] = "continuous"
                changed = True
        return changed
    return _first_that_changes(data, ctx, [("all variables", relax)],
                               "integrality relaxed")


def _loosen_constraint(data, ctx):
    def loosener(k):
        def edit(d):
            c = d["constraints"][k]
            tree = parse_relation(c["expression"])
            if len(tree.ops) != 1 or tree.ops[0] == "==":
                return False
            lhs, rhs = (E.to_source(o) for o in tree.operands)
            looser = (f"1.2 * ({rhs}) + 1" if tree.ops[0] in ("<=", "<")
                      else f"0.8 * ({rhs}) - 1")
            c["expression"] = f"{lhs} {tree.ops[0]} {looser}"
            return True
        return edit
    return _first_that_changes(data, ctx, [(c["name"], loosener(k)) for k, c in
                                               enumerate(data.get("constraints", []))],
                               "loosened constraint")


def _constant_objective(data, ctx):
    if not ctx.optimum.ok:
        return "needs an optimum"
    flipped = copy.deepcopy(data)
    flipped["objective"]["sense"] = ("maximize" if data["objective"]["sense"] == "minimize"
                                     else "minimize")
    if not _changes_optimum(flipped, ctx):
        return "the objective is constant on the feasible set"
    data["objective"]["expression"] = "0"
    return data, "objective replaced by the constant 0"


_TRANSFORMS = {
    "rename": _rename, "permute_index": _permute_index, "slack": _slack,
    "valid_inequality": _valid_inequality, "objective_scale_shift": _objective_scale_shift,
    "objective_flip_sense": _objective_flip_sense,
    "linear_substitution": _linear_substitution, "binary_expansion": _binary_expansion,
    "epigraph": _epigraph, "drop_constraint": _drop_constraint,
    "change_coefficient": _change_coefficient, "relax_integrality": _relax_integrality,
    "loosen_constraint": _loosen_constraint, "constant_objective": _constant_objective,
}
