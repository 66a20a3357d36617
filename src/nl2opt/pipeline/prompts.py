"""The prompt renderer lives with the templates in `nl2opt.prompts`, so that modules
below the pipeline (e.g. the experience library's retrieval) can render prompts too."""

from nl2opt.prompts import Prompt, fewshot_answer, render_prompt

__all__ = ["Prompt", "fewshot_answer", "render_prompt"]
