"""The Python API.

    import nl2opt
    result = nl2opt.solve_formulation("examples/bakery_lp.json")     # a formulation
    report = nl2opt.solve("A bakery makes bread and cakes ...",     # plain text
                          llm="openai:qwen2.5:7b@http://localhost:11434/v1")
    print(report.objective, report.explanation)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nl2opt.formulation.classify import ProblemClass
from nl2opt.formulation.model import Formulation, load_formulation
from nl2opt.formulation.validate import Issue, validate
from nl2opt.solvers.result import SolveResult
from nl2opt.solvers.solve import problem_class_of
from nl2opt.solvers.solve import solve as solve_checked

if TYPE_CHECKING:
    from nl2opt.pipeline.report import Report

Source = Formulation | str | Path | dict


def as_formulation(source: Source) -> Formulation:
    return source if isinstance(source, Formulation) else load_formulation(source)


def check_formulation(source: Source) -> list[Issue]:
    """All validation issues (errors first); an empty list means clean."""
    return validate(as_formulation(source))


def classify_formulation(source: Source) -> ProblemClass:
    return problem_class_of(as_formulation(source))


def solve_formulation(source: Source, solver: str | None = None,
                      time_limit: float | None = None, log: bool = False,
                      check: bool = True) -> SolveResult:
    """Validate, pick a backend by problem class (or use `solver`), and solve.

    Raises FormulationError (with `.issues`) when validation finds errors;
    infeasible and unbounded models come back as results with a diagnosis.
    """
    return solve_checked(as_formulation(source), solver, time_limit, log, check)


def formulate(text: str, llm=None, rounds: int = 3, library=None,
              library_embeddings=None) -> Formulation:
    """Plain text to a checked formulation, using the LLM given by `llm` (a backend or a
    spec string such as 'vllm:Qwen/Qwen3-8B'; default: env NL2OPT_LLM, then vLLM).
    `library` and `library_embeddings`: an experience library (see `solve`)."""
    from nl2opt.llm.spec import make_llm
    from nl2opt.pipeline.run import PipelineOptions
    from nl2opt.pipeline.run import formulate as formulate_text

    backend = make_llm(llm)
    return formulate_text(text, backend, PipelineOptions(rounds=rounds),
                          insights=insight_provider(library, backend, library_embeddings))


def solve(source: Source, llm=None, solver: str | None = None, rounds: int = 3,
          samples: int = 1, time_limit: float | None = 60.0, library=None,
          data_dir: str | Path | None = None, review: bool | None = None,
          vote: str = "equivalence", library_embeddings=None) -> "Report":
    """Text or a formulation in, a `Report` out: formulation, code, answer, attempts.

    A Formulation, dict or path to a .json file is solved directly (no LLM);
    anything else is treated as a problem statement for the LLM. `library`, an
    experience library file (or an open `LibraryStore`, or any object with
    `retrieve(problem)`), adds the insights that apply to the formulate prompt;
    `report.insight_ids` names them. `library_embeddings`, an embeddings endpoint
    (``openai:MODEL@http://host:port/v1`` or an `EmbeddingClient`), adds dense ranking
    to the library's retrieval; if the endpoint fails, an `EmbeddingWarning` says so and
    retrieval goes on without it (docs/library.md). CSV sources are read only from inside
    `data_dir` (default: a .json file's folder; for text, dicts and strings, no
    folder, so no CSV file is read). `review` (default: on when rounds > 0) checks a
    solved model against the text (fact coverage and an LLM review) and repairs what
    they find; `vote` is how several samples agree ("equivalence" or "objective").
    Interpretation alternatives the LLM declares are solved too: `report.alternatives`.
    """
    # The LLM pipeline is imported on first use so that `import nl2opt` stays light.
    from nl2opt.pipeline.report import Report, explain
    from nl2opt.pipeline.run import PipelineOptions, generate_code, solve_text

    if _is_formulation(source):
        formulation = as_formulation(source)
        if data_dir is not None:
            formulation = formulation.with_data_dir(data_dir)
        result = solve_formulation(formulation, solver=solver, time_limit=time_limit)
        return Report(formulation=formulation, result=result, code=generate_code(formulation),
                      explanation=explain(formulation, result))
    from nl2opt.llm.spec import make_llm

    options = PipelineOptions(rounds=rounds, samples=samples, solver=solver,
                              time_limit=time_limit, review=review, vote=vote,
                              data_dir=str(data_dir) if data_dir is not None else None)
    backend = make_llm(llm)
    return solve_text(str(source), backend, options,
                      insights=insight_provider(library, backend, library_embeddings))


def sensitivity(source: Source, time_limit: float | None = None):
    """Shadow prices, reduced costs and ranging of the optimal plan (`Sensitivity`); for a
    MILP those of the LP with its integer choices fixed. `sensitivity_sentences` words
    them."""
    from nl2opt.solvers.sensitivity import sensitivity as find

    return find(as_formulation(source), time_limit)


def sensitivity_sentences(source: Source, time_limit: float | None = None) -> list[str]:
    """The sensitivity as plain sentences, in the formulation's own words and units."""
    from nl2opt.analysis.sensitivity_text import sensitivity_text

    formulation = as_formulation(source)
    text = sensitivity_text(formulation, sensitivity(formulation, time_limit))
    return text.limits + text.unused + text.stability + ([text.note] if text.note else [])


def what_if(source: Source, parameter: str, key: tuple | None, value: float,
            solver: str | None = None, time_limit: float | None = 60.0):
    """Set `parameter[key]` (every entry when key is None) to `value`, re-solve, and compare
    with the current plan (a `Comparison`: sentences, objective before and after, moves)."""
    from nl2opt.analysis.whatif import SolveSettings
    from nl2opt.analysis.whatif import what_if as compare_change

    return compare_change(as_formulation(source), parameter, key, value,
                          settings=SolveSettings(solver=solver, time_limit=time_limit))


def why_not(source: Source, condition: str, description: str = "", solver: str | None = None,
            time_limit: float | None = 60.0):
    """Require `condition` (e.g. "x['cake'] >= 15"), re-solve, and say what it costs."""
    from nl2opt.analysis.whatif import SolveSettings
    from nl2opt.analysis.whatif import why_not as compare_condition

    return compare_condition(as_formulation(source), condition, description,
                             settings=SolveSettings(solver=solver, time_limit=time_limit))


def repairs(source: Source, time_limit: float | None = 60.0):
    """For an infeasible model: the conflict in plain words and verified repairs."""
    from nl2opt.analysis.infeasibility import analyze_infeasible
    from nl2opt.analysis.whatif import SolveSettings

    return analyze_infeasible(as_formulation(source),
                              settings=SolveSettings(time_limit=time_limit))


def export(source: Source, fmt: str) -> bytes:
    """The model as json, lp, mps, latex or pyomo; or its solution as csv or xlsx."""
    from nl2opt.analysis.exports import MODEL_FORMATS, export_model, export_solution

    formulation = as_formulation(source)
    if fmt in MODEL_FORMATS:
        return export_model(formulation, fmt).data
    return export_solution(solve_formulation(formulation), fmt).data


def insight_provider(library, llm, embeddings=None, warn=None):
    """An insight provider for `library` (None, a path, a store, or a provider itself);
    `embeddings` (a spec or a client) adds dense ranking, `warn` hears if it fails."""
    if library is None or callable(getattr(library, "retrieve", None)):
        return library
    from nl2opt.library.retrieval import open_retriever

    return open_retriever(library, llm, embeddings=embeddings, warn=warn)


def _is_formulation(source: Source) -> bool:
    if isinstance(source, (Formulation, dict, Path)):
        return True
    text = str(source).strip()
    return text.startswith("{") or (text.endswith(".json") and "\n" not in text)
