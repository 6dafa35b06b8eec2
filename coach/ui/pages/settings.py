"""Page script run by st.navigation; the page itself lives in coach.ui.settings_page."""

from coach.ui import settings_page
from coach.ui.common import guarded

guarded(settings_page.render)
