"""The registry of problem families, in a fixed order (the order `nl2opt synth families`
lists them and generation visits them)."""

from __future__ import annotations

from nl2opt.synthesis.families import network, nonlinear, packing, production, scheduling
from nl2opt.synthesis.family import Family, SynthesisError

FAMILIES: tuple[Family, ...] = (*packing.FAMILIES, *network.FAMILIES, *scheduling.FAMILIES,
                                *production.FAMILIES, *nonlinear.FAMILIES)
_BY_NAME = {family.name: family for family in FAMILIES}


def family_names() -> list[str]:
    return [family.name for family in FAMILIES]


def get_family(name: str) -> Family:
    """The family called `name`; SynthesisError listing the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise SynthesisError(f"unknown family {name!r}; known families: "
                             f"{', '.join(family_names())} (see `nl2opt synth families`)"
                             ) from None


def select_families(spec: str) -> list[Family]:
    """'all' or a comma-separated list of family names, in the order given."""
    if spec.strip().lower() == "all":
        return list(FAMILIES)
    wanted = [part.strip() for part in spec.split(",") if part.strip()]
    if not wanted:
        raise SynthesisError("no family given; pass --families all or a comma-separated list")
    return [get_family(name) for name in dict.fromkeys(wanted)]
