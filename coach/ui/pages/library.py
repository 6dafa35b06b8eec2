"""Page script run by st.navigation; the page itself lives in coach.ui.library_page."""

from coach.ui import library_page
from coach.ui.common import guarded

guarded(library_page.render)
