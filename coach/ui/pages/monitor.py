"""Page script run by st.navigation; the page itself lives in coach.ui.monitor_page."""

from coach.ui import monitor_page
from coach.ui.common import guarded

guarded(monitor_page.render)
