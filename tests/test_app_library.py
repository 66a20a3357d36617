"""The experience library in the app (issues 10 and 15): the Library page (browse, search,
edit, approve, retire, history), the insights an answer used, and "this answer is wrong"
turned into a training task."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit", reason="the app needs streamlit (pip install 'nl2opt[app]')")

from app_helpers import last_answer_key, new_app, objectives, open_tab, page_text, run
from library_helpers import PERCENT_CONDITION, insight
from llm_server import ChatServer

from nl2opt.library.model import Status
from nl2opt.library.store import LibraryStore

SERVER = "OpenAI-compatible server (vLLM, Ollama, ...)"
PROBLEM = "Maximize 3 x + 2 y with x + y at most 4 and x at most 40% of x + y."
MODEL = {"reasoning": "x is at most 40% of the total", "formulation": {
    "name": "Share limit", "variables": [{"name": "x"}, {"name": "y"}],
    "objective": {"sense": "maximize", "expression": "3 * x + 2 * y"},
    "constraints": [{"name": "total", "expression": "x + y <= 4"},
                    {"name": "share", "expression": "x <= 0.4 * (x + y)"}]}}


@pytest.fixture
def library(db):
    """The app's default library (next to the history), with two insights."""
    path = db.parent / "library.db"
    with LibraryStore(path) as store:
        store.add(insight(PERCENT_CONDITION))
        store.add(insight("Trucks come in whole numbers.", status=Status.candidate,
                          level1="Variable Definition", level2="Integrality"))
    return path


def test_the_library_page_browses_searches_edits_approves_and_retires(library):
    app = new_app()
    app.switch_page("library_page.py")
    run(app)
    assert "**1** candidate · **1** verified · **0** retired" in page_text(app)
    assert len(app.dataframe[0].value) == 2
    run(app.text_input(key="library_search").set_value("trucks"))
    with LibraryStore(library) as store:
        (candidate,) = store.list(Status.candidate)
    assert app.selectbox(key="library_open").options == [
        f"Trucks come in whole numbers. ({candidate.id})"]
    run(app.button(key=f"approve_{candidate.id}").click())
    app.text_area[0].set_value("Trucks, vans and workers come in whole numbers.")
    run(app.button[[b.label for b in app.button].index("Save changes")].click())
    assert "- v3 · " in page_text(app) and "edited in the app" in page_text(app)
    run(app.button(key=f"retire_{candidate.id}").click())
    with LibraryStore(library) as store:
        changed = store.require(candidate.id)
        reasons = [v.reason for v in store.history(candidate.id)]
    assert changed.status is Status.retired
    assert changed.condition == "Trucks, vans and workers come in whole numbers."
    assert reasons == ["added", "verified: approved by a person", "edited in the app",
                       "retired: retired by a person"]


def test_an_answer_lists_the_insights_it_used(library):
    app = new_app()
    run(app.sidebar.selectbox(key="llm_backend").set_value(SERVER))
    run(app.sidebar.toggle(key="use_library").set_value(True))
    run(app.sidebar.toggle(key="review").set_value(False))  # no review verdict scripted
    with ChatServer([{"applicable": [1]}, MODEL]) as server:
        run(app.sidebar.text_input(key="server_url").set_value(server.base_url))
        run(app.chat_input(key="chat").set_value(PROBLEM))
    assert objectives(app) == ["9.6"]
    assert "at most a percentage" in server.requests[-1]["messages"][-1]["content"]
    key = last_answer_key(library.parent / "app.db")
    assert app.expander(key=f"insights_{key}").label == "Insights used (1)"
    app.session_state[f"insights_{key}"] = True
    assert "Percentage limits" in page_text(run(app))


def test_a_correction_becomes_a_training_task(db):
    app = new_app()
    run(app.button(key="example_bakery").click())
    key = last_answer_key(db)
    run(app.number_input(key=f"wrong_value_{key}").set_value(1100.0))
    run(app.button(key=f"wrong_send_{key}").click())
    assert "Saved as training task person/" in app.success[0].value
    with LibraryStore(db.parent / "library.db") as store:
        (task,) = store.tasks()
    assert task.answer == 1100 and task.dataset == "person"
    assert task.failing_formulation["name"] == "Bakery production plan"
    assert "bakery makes bread and cakes" in task.question


def test_an_embeddings_endpoint_is_a_remembered_setting_that_finds_a_paraphrase(
        db, monkeypatch):
    from embedding_helpers import PARAPHRASE, fake_model, toy_embedding, write_library

    from nl2opt.app.history import History

    monkeypatch.setenv("NL2OPT_EMBEDDING_CACHE", str(db.parent / "embeddings.sqlite"))
    write_library(db.parent / "library.db")
    app = new_app()
    run(app.sidebar.selectbox(key="llm_backend").set_value(SERVER))
    run(app.sidebar.toggle(key="use_library").set_value(True))
    run(app.sidebar.toggle(key="review").set_value(False))
    run(app.sidebar.slider(key="rounds").set_value(0))
    with ChatServer(fake_model, embed=toy_embedding) as server:
        spec = f"openai:toy-embed@{server.base_url}"
        run(app.sidebar.text_input(key="server_url").set_value(server.base_url))
        run(app.sidebar.text_input(key="library_embeddings").set_value(spec))
        run(app.chat_input(key="chat").set_value(PARAPHRASE))
    assert [len(body["input"]) for body in server.embedding_requests] == [12, 1]
    key = last_answer_key(db)
    assert app.expander(key=f"insights_{key}").label == "Insights used (1)"
    app.session_state[f"insights_{key}"] = True
    assert "Percentage limits" in page_text(run(app))
    # The session keeps the client, so the next answer does not embed the library again.
    assert len(app.session_state["embedding_clients"][spec].cache) == 13
    assert History(db).preference("settings")["library_embeddings"] == spec
    assert new_app().sidebar.text_input(key="library_embeddings").value == spec


def test_a_bad_embeddings_spec_is_told_in_the_steps_and_the_answer_goes_on(library):
    app = new_app()
    run(app.sidebar.selectbox(key="llm_backend").set_value(SERVER))
    run(app.sidebar.toggle(key="use_library").set_value(True))
    run(app.sidebar.toggle(key="review").set_value(False))
    run(app.sidebar.text_input(key="library_embeddings").set_value("bge-small"))
    with ChatServer([{"applicable": [1]}, MODEL]) as server:
        run(app.sidebar.text_input(key="server_url").set_value(server.base_url))
        run(app.chat_input(key="chat").set_value(PROBLEM))
    assert objectives(app) == ["9.6"]
    steps = page_text(open_tab(app, last_answer_key(library.parent / "app.db"), "Steps"))
    assert "Dense retrieval not used: bad embedding spec 'bge-small'" in steps


def test_an_insight_card_shows_imported_ids_and_origins_as_text(db):
    """Ids and provenance come from imported JSONL: Markdown in them (an image that the
    browser would fetch, a link) must stay text in the card's caption."""
    from nl2opt.library.model import Provenance

    hostile = insight(PERCENT_CONDITION).model_copy(update={
        "id": "ins-[link](https://example.invalid/a)",
        "provenance": Provenance(origin="![pixel](https://example.invalid/p.png)")})
    with LibraryStore(db.parent / "library.db") as store:
        store.add(hostile)
    app = new_app()
    app.switch_page("library_page.py")
    run(app)
    run(app.selectbox(key="library_open").select_index(0))
    (caption,) = [c.value for c in app.caption if "version" in c.value]
    assert "](" not in caption.replace("\\](", ""), caption
    assert "example.invalid/p.png" in caption
