"""The Library page of the app (a Streamlit page script; see `library_view`)."""

from nl2opt.app.history import History
from nl2opt.app.library_view import library_page
from nl2opt.app.settings import remember, sidebar_settings

settings = sidebar_settings()
remember(History())
library_page(settings.library_path)
