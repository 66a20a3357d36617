"""Equivalence checking of formulations (EquivaMap-style).

`equivalent(a, b, llm=None)` finds a map between the decision variables of two
formulations (by name, by structure, by fitting, or proposed by an LLM) and
verifies with a solver that it carries optimal solutions of one to optimal
solutions of the other. See docs/equivalence.md.
"""

from nl2opt.equivalence.core import equivalent
from nl2opt.equivalence.instance import (
                                         EquivalenceInputError,
                                         InstanceModel,
                                         from_formulation,
                                         load_instance,
                                         read_model_file,
)
from nl2opt.equivalence.maps import AffineMap, MappingError, map_from_expressions
from nl2opt.equivalence.report import EquivalenceReport
from nl2opt.equivalence.transforms import EQUIVALENT, NOT_EQUIVALENT, Variant, generate_variants

__all__ = [
                                         "EQUIVALENT",
                                         "NOT_EQUIVALENT",
                                         "AffineMap",
                                         "EquivalenceInputError",
                                         "EquivalenceReport",
                                         "InstanceModel",
                                         "MappingError",
                                         "Variant",
                                         "equivalent",
                                         "from_formulation",
                                         "generate_variants",
                                         "load_instance",
                                         "map_from_expressions",
                                         "read_model_file",
]
