"""Sidebar settings (LLM backend, solver, rounds, samples, time limit) and the LLM they name.

Demo mode is the default when no LLM is configured (env NL2OPT_LLM unset): it
replays recorded example conversations, so the app works on any laptop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

from nl2opt.app.demo import DEMO_ROUNDS, app_demo_backend
from nl2opt.llm.spec import DEFAULT_MODEL, ENV_SPEC, make_llm
from nl2opt.llm.types import LLMBackend
from nl2opt.pipeline.run import PipelineOptions

DEMO = "Demo (recorded examples, no GPU)"
SERVER = "OpenAI-compatible server (vLLM, Ollama, ...)"
VLLM = "vLLM in this process (needs a GPU)"
CUSTOM = "Custom LLM spec"
BACKENDS = [DEMO, SERVER, VLLM, CUSTOM]
SOLVERS = ["automatic", "highs", "cpsat", "pyomo-highs", "scip"]
DEFAULT_SERVER_MODEL = "qwen2.5:7b"
DEFAULT_SERVER_URL = "http://localhost:11434/v1"


@dataclass(frozen=True)
class Settings:
    backend: str
    spec: str  # "" in demo mode
    solver: str | None
    rounds: int
    samples: int
    time_limit: float

    @property
    def demo(self) -> bool:
        return self.backend == DEMO

    def options(self, data_dir: str | None = None) -> PipelineOptions:
        # The app does not show review findings or alternatives yet: the semantic review
        # stays off here until it does (see docs/review.md).
        return PipelineOptions(rounds=self.rounds, samples=self.samples, solver=self.solver,
                               time_limit=self.time_limit, data_dir=data_dir, review=False)


def _default_backend() -> str:
    return CUSTOM if os.environ.get(ENV_SPEC, "").strip() else DEMO


def sidebar_settings() -> Settings:
    """The settings widgets (in the sidebar) and their current values."""
    sidebar = st.sidebar
    sidebar.subheader(":material/settings: Settings")
    backend = sidebar.selectbox("LLM", BACKENDS, index=BACKENDS.index(_default_backend()),
                                key="llm_backend",
                                help="Demo mode replays recorded example conversations "
                                     "(answers written by hand, not by a model).")
    spec = _spec_inputs(backend)
    solver = sidebar.selectbox("Solver", SOLVERS, key="solver",
                               help="automatic: HiGHS for LP/MILP/QP, SCIP for the rest.")
    max_rounds = DEMO_ROUNDS if backend == DEMO else 6
    rounds = sidebar.slider("Self-correction rounds", 0, max_rounds, min(3, max_rounds),
                            key=f"rounds_{backend == DEMO}",
                            help="How often the LLM may repair a model that fails a check.")
    samples = sidebar.number_input("Samples (majority vote)", 1, 8, 1, key="samples",
                                   disabled=backend == DEMO,
                                   help="Several formulations, and the most common answer "
                                        "wins. Recorded demos have one sample.")
    time_limit = sidebar.number_input("Solver time limit (s)", 1.0, 3600.0, 60.0, step=10.0,
                                      key="time_limit")
    return Settings(backend, spec, None if solver == "automatic" else solver, int(rounds),
                    1 if backend == DEMO else int(samples), float(time_limit))


def _spec_inputs(backend: str) -> str:
    sidebar = st.sidebar
    if backend == DEMO:
        sidebar.caption("No GPU or server needed. Pick an example prompt to start.")
        return ""
    if backend == SERVER:
        model = sidebar.text_input("Model", DEFAULT_SERVER_MODEL, key="server_model")
        url = sidebar.text_input("Server URL", DEFAULT_SERVER_URL, key="server_url",
                                 help="e.g. http://localhost:8000/v1 for `vllm serve`, "
                                      "http://localhost:11434/v1 for Ollama")
        return f"openai:{model.strip()}@{url.strip()}"
    if backend == VLLM:
        model = sidebar.text_input("Model", DEFAULT_MODEL, key="vllm_model")
        return f"vllm:{model.strip()}"
    configured = os.environ.get(ENV_SPEC, "").strip()
    return sidebar.text_input("LLM spec", configured or "demo", key="custom_spec",
                              help="e.g. openai:MODEL@URL, vllm:MODEL, replay:FILE, "
                                   "record:FILE=SPEC, demo").strip()


@st.cache_resource(show_spinner="Loading the LLM ...")
def _cached_llm(spec: str) -> LLMBackend:
    return make_llm(spec)


@st.cache_resource(show_spinner=False)
def _cached_demo() -> LLMBackend:
    return app_demo_backend()


def get_llm(settings: Settings) -> LLMBackend:
    """The LLM backend for the settings (loaded once per spec and server process).

    Replay recordings are read fresh each time, so a file recorded meanwhile is seen.
    """
    if settings.demo:
        return _cached_demo()
    if settings.spec.startswith(("replay:", "record:")):
        return make_llm(settings.spec)
    return _cached_llm(settings.spec)
