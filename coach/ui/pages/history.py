"""Page script run by st.navigation; the page itself lives in coach.ui.history_page."""

from coach.ui import history_page
from coach.ui.common import guarded

guarded(history_page.render)
