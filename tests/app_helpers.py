"""Shared AppTest helpers for the app's tests (one place, so every test starts the same)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from nl2opt.app import entry_file


def new_app() -> AppTest:
    app = AppTest.from_file(str(entry_file()), default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app


def run(target) -> AppTest:
    """Run the app (an AppTest, or an element whose value was set or that was clicked)."""
    app = target.run()
    assert not app.exception, app.exception
    return app


def metrics(app: AppTest) -> dict[str, list[str]]:
    """Metric values by label (the objective's label is its name, e.g. "Profit")."""
    found: dict[str, list[str]] = {}
    for metric in app.metric:
        found.setdefault(metric.label.split(" (")[0], []).append(metric.value)
    return found


def objectives(app: AppTest) -> list[str]:
    """The objective value of every answer with a model, in order."""
    return [m.value for m in app.metric if m.label.endswith("imized)")]


def page_text(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [e.value for e in app.error]
    parts += [w.value for w in app.warning] + [i.value for i in app.info]
    parts += [s.value for s in app.success] + [c.value for c in app.caption]
    return "\n".join(parts)


def open_tab(app: AppTest, message_key: str, tab: str) -> AppTest:
    """Switch an answer's (lazily drawn) tabs to `tab` and rerun."""
    app.session_state[f"tabs_{message_key}"] = tab
    return run(app)


def last_answer_key(db) -> str:
    """The widget key prefix of the latest answer in the history at `db` ("m12")."""
    from nl2opt.app.history import History

    history = History(db)
    messages = history.messages(history.list()[0].id)
    return f"m{[m for m in messages if m.role == 'assistant'][-1].id}"
