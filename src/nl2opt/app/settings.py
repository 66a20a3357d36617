"""Sidebar settings (LLM backend, solver, rounds, samples, time limit, library) and the
LLM they name.

Demo mode is the default when no LLM is configured (env NL2OPT_LLM unset): it
replays recorded example conversations, so the app works on any laptop.

Settings persist: the values last used on this computer (the history database's
preferences) come back in a new session, and each conversation remembers the
settings it last ran with, restored when it is reopened. The API key is the one
exception: it lives only in the browser session, never on disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import streamlit as st

from nl2opt.app.demo import DEMO_ROUNDS
from nl2opt.app.history import History
from nl2opt.llm.spec import DEFAULT_MODEL, ENV_SPEC
from nl2opt.pipeline.run import PipelineOptions

DEMO = "Demo (recorded examples, no GPU)"
SERVER = "OpenAI-compatible server (vLLM, Ollama, ...)"
VLLM = "vLLM in this process (needs a GPU)"
CUSTOM = "Custom LLM spec"
BACKENDS = [DEMO, SERVER, VLLM, CUSTOM]
SOLVERS = ["automatic", "highs", "cpsat", "pyomo-highs", "scip"]
DEFAULT_SERVER_MODEL = "qwen2.5:7b"
DEFAULT_SERVER_URL = "http://localhost:11434/v1"
MAX_ROUNDS = 6
API_KEY = "api_key"  # session only
_PREFERENCE = "settings"
_RESTORED = "settings_restored"
_SAVED = "settings_saved"


def default_values() -> dict[str, Any]:
    """Every persisted setting's value for a first start."""
    configured = os.environ.get(ENV_SPEC, "").strip()
    return {"llm_backend": CUSTOM if configured else DEMO, "server_model": DEFAULT_SERVER_MODEL,
            "server_url": DEFAULT_SERVER_URL, "vllm_model": DEFAULT_MODEL,
            "custom_spec": configured or "demo", "solver": "automatic", "rounds": 3,
            "samples": 1, "time_limit": 60.0, "use_library": False, "library_path": "",
            "library_embeddings": "", "review": True}


def _valid(key: str, value: Any) -> bool:
    """A stored value that still fits its widget (options may change between versions)."""
    choices = {"llm_backend": BACKENDS, "solver": SOLVERS}
    if key in choices:
        return value in choices[key]
    default = default_values()[key]
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def restore(history: History, conversation_settings: dict[str, Any] | None) -> None:
    """Before any widget is drawn. Once per session: the conversation's settings, else the
    last used, else defaults. Every run: keep the values of widgets not drawn this time
    (the model field of a backend not chosen now), which Streamlit would otherwise drop."""
    if not st.session_state.get(_RESTORED):
        st.session_state[_RESTORED] = True
        stored = history.preference(_PREFERENCE, {}) or {}
        apply({**stored, **(conversation_settings or {})})
        st.session_state[_SAVED] = current_values()
    for key in [*default_values(), API_KEY]:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def apply(values: dict[str, Any]) -> None:
    """Put settings into the widgets' state (before the widgets are drawn)."""
    for key, default in default_values().items():
        value = values.get(key, st.session_state.get(key, default))
        st.session_state[key] = value if _valid(key, value) else default
    if not MAX_ROUNDS >= st.session_state["rounds"] >= 0:
        st.session_state["rounds"] = 3


def current_values() -> dict[str, Any]:
    return {key: st.session_state.get(key, default)
            for key, default in default_values().items()}


def remember(history: History) -> None:
    """Store the settings as this computer's preference when they changed."""
    values = current_values()
    if values != st.session_state.get(_SAVED):
        history.set_preference(_PREFERENCE, values)
        st.session_state[_SAVED] = values


@dataclass(frozen=True)
class Settings:
    backend: str
    spec: str  # "" in demo mode
    solver: str | None
    rounds: int
    samples: int
    time_limit: float
    api_key: str = ""
    use_library: bool = False
    library_path: str = ""  # "" = library.db next to the history
    review: bool = True  # the semantic review after a solve (never in demo mode)
    library_embeddings: str = ""  # an embeddings endpoint spec for the library ("" = none)

    @property
    def demo(self) -> bool:
        return self.backend == DEMO

    def options(self, data_dir: str | None = None) -> PipelineOptions:
        # The recorded demos hold no review verdicts, so demo mode never reviews.
        rounds = min(self.rounds, DEMO_ROUNDS) if self.demo else self.rounds
        return PipelineOptions(rounds=rounds, samples=self.samples, solver=self.solver,
                               time_limit=self.time_limit, data_dir=data_dir,
                               review=self.review and not self.demo)


def sidebar_settings() -> Settings:
    """The settings widgets (in the sidebar) and their current values."""
    sidebar = st.sidebar
    sidebar.subheader("Settings")
    backend = sidebar.selectbox("LLM", BACKENDS, key="llm_backend",
                                help="Demo mode replays recorded example conversations "
                                     "(answers written by hand, not by a model).")
    spec = _spec_inputs(backend)
    api_key = ""
    if backend in (SERVER, CUSTOM):
        api_key = sidebar.text_input("API key (kept only in this browser session)",
                                     key=API_KEY, type="password",
                                     help="Sent to the server as the bearer token; never "
                                          "saved. Local servers need none.")
    solver = sidebar.selectbox("Solver", SOLVERS, key="solver",
                               help="automatic: HiGHS for LP/MILP/QP, SCIP for the rest. "
                                    "CP-SAT solves only integer linear models (MILP).")
    rounds = sidebar.slider("Self-correction rounds", 0, MAX_ROUNDS, key="rounds",
                            help="How often the LLM may repair a model that fails a check.")
    if backend == DEMO and rounds > DEMO_ROUNDS:
        sidebar.caption(f"The recorded demos use at most {DEMO_ROUNDS} rounds.")
    samples = sidebar.number_input("Samples (majority vote)", 1, 8, key="samples",
                                   disabled=backend == DEMO,
                                   help="Several formulations, and the most common answer "
                                        "wins. Recorded demos have one sample.")
    time_limit = sidebar.number_input("Solver time limit (s)", 1.0, 3600.0, step=10.0,
                                      key="time_limit")
    review = sidebar.toggle("Semantic review", key="review", disabled=backend == DEMO,
                            help="After a solve, check that every number of the statement is "
                                 "used and ask the LLM to review the model against the text; "
                                 "findings go back for repair. Recorded demos have none.")
    use_library, library, embeddings = _library_inputs()
    return Settings(backend, spec, None if solver == "automatic" else solver, int(rounds),
                    1 if backend == DEMO else int(samples), float(time_limit),
                    api_key.strip(), use_library, library, bool(review), embeddings)


def _spec_inputs(backend: str) -> str:
    sidebar = st.sidebar
    if backend == DEMO:
        sidebar.caption("No GPU or server needed: pick an example to start.")
        return ""
    if backend == SERVER:
        model = sidebar.text_input("Model", key="server_model")
        url = sidebar.text_input("Server URL", key="server_url",
                                 help="e.g. http://localhost:8000/v1 for `vllm serve`, "
                                      "http://localhost:11434/v1 for Ollama")
        return f"openai:{model.strip()}@{url.strip()}"
    if backend == VLLM:
        model = sidebar.text_input("Model", key="vllm_model")
        return f"vllm:{model.strip()}"
    return sidebar.text_input("LLM spec", key="custom_spec",
                              help="e.g. openai:MODEL@URL, vllm:MODEL, replay:FILE, "
                                   "record:FILE=SPEC, demo").strip()


def _library_inputs() -> tuple[bool, str, str]:
    sidebar = st.sidebar
    use = sidebar.toggle("Use an experience library", key="use_library",
                         help="Insights learned from earlier mistakes go into the prompt; "
                              "each answer lists the ones it used.")
    path = st.session_state.get("library_path", "")
    embeddings = st.session_state.get("library_embeddings", "")
    if use:
        path = sidebar.text_input("Library file", key="library_path",
                                  placeholder="empty: library.db next to the conversations")
        embeddings = sidebar.text_input(
            "Embeddings endpoint (optional)", key="library_embeddings",
            placeholder="openai:MODEL@http://host:port/v1",
            help="Dense retrieval: insights found by meaning, not only by shared words. Any "
                 "OpenAI-compatible /v1/embeddings server, e.g. `vllm serve "
                 "BAAI/bge-small-en-v1.5 --task embed`. Its key is env OPENAI_API_KEY (never "
                 "stored). If it fails, the answer goes on without it and says so.")
    return bool(use), path.strip(), embeddings.strip()
