"""The five-element formulation: sets, parameters, variables, objective, constraints.

This is the data model everything else in nl2opt stands on. It is what the LLM
writes (as JSON), what people read, and what the compilers turn into solver
models. Expressions are kept as strings here; `nl2opt.formulation.parser`
turns them into trees. The JSON Schema is kept flat and free of recursion so
grammar-constrained decoders (vLLM/xgrammar) handle it well.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

SCHEMA_ID = "nl2opt.formulation/1"



def _float_sized(value: float) -> float:
    """JSON integers have no size limit; one that no float can hold is refused here,
    with its size, instead of overflowing later."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            raise ValueError(f"an integer with {len(str(abs(value)))} digits is too large for "
                             "a floating-point number; rescale the data") from None
    return value


Element = Union[int, str]
Number = Annotated[int | float, AfterValidator(_float_sized)]
# Nested mapping, e.g. {"bread": {"oven": 2, "mixer": 1}}; innermost values are numbers.
NestedValues = dict[str, Union[Number, dict[str, Union[Number, dict[str, Number]]]]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CsvSource(_Strict):
    """Where to read values from a CSV file, so large data never passes through an LLM."""

    path: str = Field(description="CSV file path, relative to the formulation file.")
    index_columns: list[str] = Field(
        default_factory=list,
        description="Columns holding the index elements, in the parameter's index order.")
    value_column: str = Field(description="Column holding the value (or the set element).")


class SetDef(_Strict):
    """A named index set: listed elements, an integer range, or a CSV column."""

    name: str
    description: str = ""
    elements: list[Element] | None = Field(
        default=None, description="The elements, e.g. [\"bread\", \"cake\"] or [1, 2, 3].")
    range: list[int] | None = Field(
        default=None, min_length=2, max_length=2,
        description="Inclusive integer range [first, last], e.g. [1, 12] for months.")
    csv: CsvSource | None = Field(
        default=None, description="Distinct values of value_column, in file order.")

    @model_validator(mode="after")
    def _exactly_one_source(self) -> "SetDef":
        given = [k for k in ("elements", "range", "csv") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"set '{self.name}' needs exactly one of elements, range or csv; got "
                f"{', '.join(given) or 'none'}")
        return self


class Parameter(_Strict):
    """Known data: a scalar `value`, or values indexed over sets.

    Indexed values come as a nested mapping (`values`), a table of rows
    `[index..., value]` (`table`), or a CSV column (`csv`). `default` fills
    index tuples that are not listed.
    """

    name: str
    description: str = ""
    unit: str = ""
    index: list[str] = Field(default_factory=list, description="Names of the index sets.")
    value: Number | None = Field(default=None, description="The value of a scalar parameter.")
    values: NestedValues | None = Field(
        default=None, description="Nested mapping from index elements to numbers.")
    table: list[list[Union[Element, Number]]] | None = Field(
        default=None, description="Rows of index elements followed by the value.")
    csv: CsvSource | None = None
    default: Number | None = Field(default=None, description="Value for unlisted index tuples.")

    @model_validator(mode="after")
    def _one_source(self) -> "Parameter":
        given = [k for k in ("value", "values", "table", "csv") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"parameter '{self.name}' has more than one of value, values, "
                             f"table, csv ({', '.join(given)}); keep one")
        if not given and self.default is None:
            raise ValueError(f"parameter '{self.name}' has no data: give value, values, table, "
                             "csv or default")
        if self.value is not None and self.index:
            raise ValueError(f"parameter '{self.name}' is indexed over {self.index} but gives a "
                             "scalar 'value'; use 'values', 'table' or 'default'")
        return self


class VarType(str, Enum):
    continuous = "continuous"
    integer = "integer"
    binary = "binary"


class Variable(_Strict):
    """A decision variable, scalar or indexed.

    Bounds are numbers or expressions over parameters; inside a bound the
    variable's index set names stand for the current element, e.g.
    `"upper": "capacity[P]"` for a variable indexed over P. `lower` defaults
    to 0 (nonnegative); write `null` for a free variable.
    """

    name: str
    description: str = ""
    index: list[str] = Field(default_factory=list, description="Names of the index sets.")
    type: VarType = VarType.continuous
    lower: int | float | str | None = Field(default=0,
                                            description="Lower bound; null means none.")
    upper: int | float | str | None = Field(default=None,
                                            description="Upper bound; null means none.")

    @field_validator("lower", "upper")
    @classmethod
    def _bound_fits_a_float(cls, value):
        return _float_sized(value) if isinstance(value, int) else value


class Sense(str, Enum):
    minimize = "minimize"
    maximize = "maximize"


class Objective(_Strict):
    sense: Sense
    expression: str = Field(description="e.g. sum(profit[p] * x[p] for p in P)")
    description: str = ""


class Constraint(_Strict):
    """A named (family of) constraint(s).

    `forall` binds indices, e.g. ["m in M", "t in T"]; `where` filters the
    bound tuples, e.g. "t > 1". The relation is `lhs <= rhs`, `lhs == rhs`,
    `lhs >= rhs`, or ranged `lo <= expr <= hi`.
    """

    name: str
    description: str = ""
    forall: list[str] = Field(default_factory=list, description='e.g. ["m in M"]')
    where: str | None = Field(default=None, description="Condition on the bound indices.")
    expression: str = Field(description="e.g. sum(hours[p, m] * x[p] for p in P) <= cap[m]")


class Formulation(_Strict):
    """A complete optimization model in five elements."""

    schema_id: Literal["nl2opt.formulation/1"] = Field(default=SCHEMA_ID, alias="schema")
    name: str = ""
    description: str = ""
    assumptions: list[str] = Field(default_factory=list)
    sets: list[SetDef] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)
    variables: list[Variable] = Field(min_length=1)
    objective: Objective
    constraints: list[Constraint] = Field(default_factory=list)

    # The data folder CSV paths are confined to; not part of the schema. None (a
    # formulation made from a string or a dict) means no CSV file is read at all.
    _data_dir: Path | None = PrivateAttr(default=None)

    @property
    def data_dir(self) -> Path | None:
        return self._data_dir

    def with_data_dir(self, directory: str | Path | None) -> "Formulation":
        """A copy whose CSV sources read from `directory` (None: read no files)."""
        copy = self.model_copy()
        copy._data_dir = Path(directory) if directory is not None else None
        return copy

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True, indent=indent)

    def to_dict(self) -> dict:
        return json.loads(self.to_json(indent=None))


def load_formulation(source: str | Path | dict) -> Formulation:
    """Read a formulation from a JSON file path, a JSON string, or a dict.

    CSV sources read from the file's folder and nowhere else; a formulation made
    from a string or a dict has no data folder (see `Formulation.with_data_dir`).
    """
    if isinstance(source, dict):
        return Formulation.model_validate(source)
    text = str(source).removeprefix("\ufeff")
    if text.lstrip().startswith("{"):
        return Formulation.model_validate_json(text)
    path = Path(text)
    # utf-8-sig: editors on Windows start JSON files with a byte-order mark.
    formulation = Formulation.model_validate_json(path.read_text(encoding="utf-8-sig"))
    return formulation.with_data_dir(path.resolve().parent)


def formulation_json_schema() -> dict:
    """The JSON Schema of `nl2opt.formulation/1`, for docs and constrained decoding."""
    schema = Formulation.model_json_schema(by_alias=True)
    schema["$id"] = SCHEMA_ID
    return schema
