"""The Streamlit chat app: plain-language problem -> checked model -> answer, in a browser.

Start it with `nl2opt app` or `streamlit run src/nl2opt/app/main.py`. The
modules below main.py work without a browser: `turns` (one chat turn),
`history` (SQLite), `diff`, `charts`, `uploads`, `demo` (recorded examples).
Importing this package does not import Streamlit.
"""

from __future__ import annotations

from pathlib import Path


def entry_file() -> Path:
    """The Streamlit script (`streamlit run` this file)."""
    return Path(__file__).with_name("main.py")
