"""report.html: one self-contained page (inline CSS and hand-written SVG bar charts).

No plotting library and no network: the page opens from a file, in any
browser, years later. Every label is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from nl2opt.evaluation.records import EvalRecord

BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, CHART_WIDTH = 20, 6, 170, 620
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
td, th { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
blockquote { border-left: 4px solid #4a78b5; margin: 0.5rem 0; padding: 0.3rem 0.8rem;
             background: #f5f8fc; }
svg text { font-size: 12px; font-family: system-ui, sans-serif; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
"""


def bar_chart(title: str, bars: list[tuple[str, float]], maximum: float | None = None,
              percent: bool = False) -> str:
    """A horizontal bar chart as an inline <svg> element."""
    top = max((value for _, value in bars), default=0.0)
    maximum = maximum or top or 1.0
    span = CHART_WIDTH - LABEL_WIDTH - 70
    height = 30 + len(bars) * (BAR_HEIGHT + BAR_GAP)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" '
             f'height="{height}" role="img" aria-label="{escape(title)}">',
             f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>']
    for row, (label, value) in enumerate(bars):
        y = 26 + row * (BAR_HEIGHT + BAR_GAP)
        width = max(0.0, span * value / maximum)
        shown = f"{100 * value:.1f}%" if percent else f"{value:g}"
        parts += [f'<text x="{LABEL_WIDTH - 6}" y="{y + 14}" text-anchor="end">'
                  f"{escape(label[:28])}</text>",
                  f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}" '
                  f'fill="#4a78b5"><title>{escape(label)}: {shown}</title></rect>',
                  f'<text x="{LABEL_WIDTH + width + 4:.1f}" y="{y + 14}">{shown}</text>']
    parts.append("</svg>")
    return "".join(parts)


def _accuracy_bars(groups: dict[str, Any]) -> list[tuple[str, float]]:
    return [(f"{name} (n={g['scored']})", g["accuracy"]) for name, g in groups.items()
            if g["accuracy"] is not None]


def charts(summary: dict[str, Any]) -> list[str]:
    """The report's charts: accuracy by dataset, subset and class; categories; attempts."""
    categories = [(name, float(n)) for name, n in summary["categories"].items() if n]
    attempts = [(f"{k} answer{'s' if k != '1' else ''}", float(v))
                for k, v in summary["attempts_histogram"].items()]
    return [bar_chart("Accuracy by dataset", _accuracy_bars(summary["by_dataset"]), 1.0, True),
            bar_chart("Accuracy by subset", _accuracy_bars(summary["by_subset"]), 1.0, True),
            bar_chart("Accuracy by problem class", _accuracy_bars(summary["by_class"]), 1.0,
                      True),
            bar_chart("Outcome categories (items)", categories),
            bar_chart("LLM answers per problem (items)", attempts)]


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(summary: dict[str, Any], records: list[EvalRecord], failures: int = 200
                ) -> str:
    """The whole report page."""
    from nl2opt.evaluation.reporting import (
        expected_text,
        group_rows,
        headline_rows,
        ignored_note,
        percent,
        prediction_text,
    )

    run = summary["run"]
    group_header = ["group", "items", "scored", "correct", "accuracy"]
    wrong = [r for r in records if r.category != "correct"]
    sections = [
        f"<h1>Evaluation report: {escape(str(run.get('dataset', '')))}</h1>",
        f"<p>LLM <code>{escape(str(run.get('llm', '')))}</code>; dataset version "
        f"<code>{escape(str(run.get('dataset_version', '')))}</code>; nl2opt "
        f"{escape(str(run.get('nl2opt_version', '')))}; started "
        f"{escape(str(run.get('started_at', '')))}.</p>",
        _table(["figure", "value"], [list(row) for row in headline_rows(summary)]),
        *([f"<p>{escape(ignored_note(summary))}</p>"] if summary.get("ignored_records")
          else []),
        "<h2>Scoring rule</h2>", f"<blockquote>{escape(summary['scoring_rule'])}</blockquote>",
        '<div class="charts">' + "".join(charts(summary)) + "</div>",
        "<h2>Other scoring conventions</h2>",
        _table(["convention", "accuracy"],
               [[name, percent(value)] for name, value in summary["conventions"].items()]),
        "<h2>Accuracy by dataset</h2>", _table(group_header, group_rows(summary["by_dataset"])),
        "<h2>Accuracy by subset</h2>", _table(group_header, group_rows(summary["by_subset"])),
        "<h2>Accuracy by problem class</h2>",
        _table(group_header, group_rows(summary["by_class"])),
        f"<h2>Items not answered correctly ({len(wrong)})</h2>",
        _table(["uid", "category", "predicted", "expected", "error"],
               [[r.uid, r.category, prediction_text(r), expected_text(r), r.error[:240]]
                for r in wrong[:failures]]),
    ]
    if len(wrong) > failures:
        sections.append(f"<p>... and {len(wrong) - failures} more in results.jsonl.</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>nl2opt evaluation: {escape(str(run.get('dataset', '')))}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(sections)
            + "\n</body></html>\n")
