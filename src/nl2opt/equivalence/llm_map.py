"""EquivaMap proper: an LLM proposes the variable map, the solver verifies it.

The prompt (`equivamap.v1`) shows both instances as readable LP-like text and asks
for a JSON object {"reasoning", "mapping": {A variable: affine expression in B's
variables}} (structured output through a JSON schema where the backend supports
it). Each expression goes through nl2opt's safe parser and `map_from_expressions`;
nothing the LLM writes is evaluated. The proposal decides nothing by itself:
`verify_map` does.
"""

from __future__ import annotations

from nl2opt.equivalence.instance import InstanceModel
from nl2opt.equivalence.maps import AffineMap, MappingError, affine_text, map_from_expressions
from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMError, LLMRequest
from nl2opt.prompts import render_prompt

PROMPT_ID = "equivamap.v1"
MAX_TEXT_CHARS = 60_000

MAPPING_SCHEMA = {
    "title": "EquivaMapReply",
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "mapping": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["reasoning", "mapping"],
    "additionalProperties": False,
}


def model_text(model: InstanceModel, limit: int = MAX_TEXT_CHARS) -> str:
    """An instance as short LP-like text: objective, constraints, bounds, integrality."""
    sense = "maximize" if model.maximize else "minimize"
    lines = [f"{sense} " + affine_text(_terms(model, model.objective), model.offset)]
    if model.has_quadratic:
        q = model.quadratic
        lines.append("  + quadratic terms: " + " + ".join(
            f"{v:.10g}*{model.names[i]}*{model.names[j]}" for i, j, v in
            zip(q.row, q.col, q.data) if v))
    lines.append("subject to")
    matrix = model.matrix.tocsr()
    for r in range(model.num_rows):
        row = matrix[r].tocoo()
        body = affine_text([(model.names[c], v) for c, v in zip(row.col, row.data)], 0.0)
        low, high = model.row_lower[r], model.row_upper[r]
        if low == high:
            relation = f"{body} == {low:.10g}"
        elif low > -float("inf") and high < float("inf"):
            relation = f"{low:.10g} <= {body} <= {high:.10g}"
        elif high < float("inf"):
            relation = f"{body} <= {high:.10g}"
        else:
            relation = f"{body} >= {low:.10g}"
        lines.append(f"  {model.row_names[r]}: {relation}")
    lines.append("variables (lower, upper, type)")
    for k, name in enumerate(model.names):
        kind = "integer" if model.integer[k] else "continuous"
        lines.append(f"  {name}: [{model.lower[k]:.10g}, {model.upper[k]:.10g}] {kind}")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[:limit] + "\n  ... (truncated)"


def _terms(model: InstanceModel, vector) -> list[tuple[str, float]]:
    return [(model.names[k], float(v)) for k, v in enumerate(vector) if v]


def mapping_request(a: InstanceModel, b: InstanceModel, n: int = 1) -> LLMRequest:
    prompt = render_prompt(PROMPT_ID, model_a=model_text(a), model_b=model_text(b))
    return LLMRequest(messages=prompt.messages, json_schema=MAPPING_SCHEMA,
                      schema_name="equivamap", n=n, prompt_id=prompt.id,
                      prompt_hash=prompt.hash)


def propose_maps(llm, a: InstanceModel, b: InstanceModel, n: int = 1
                 ) -> list[tuple[AffineMap | None, str]]:
    """Ask the LLM for maps (A's variables in B's); (map, note) per sample, the map None
    when the reply was unusable (the note says why)."""
    from nl2opt.llm.spec import make_llm

    backend = make_llm(llm) if isinstance(llm, str) else llm
    try:
        responses = backend.generate([mapping_request(a, b, n)])[0]
    except LLMError as exc:
        return [(None, f"LLM call failed: {exc}")]
    proposals = []
    for response in responses:
        reply = response.parsed or extract_json(response.text)
        mapping = reply.get("mapping") if isinstance(reply, dict) else None
        if not isinstance(mapping, dict):
            proposals.append((None, "the reply has no 'mapping' object"))
            continue
        try:
            proposals.append((map_from_expressions({str(k): str(v) for k, v in
                                                    mapping.items()}, a, b, "llm"), ""))
        except MappingError as exc:
            proposals.append((None, str(exc)))
    return proposals
