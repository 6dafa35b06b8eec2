"""Page script run by st.navigation; the page itself lives in coach.ui.gait_page."""

from coach.ui import gait_page
from coach.ui.common import guarded

guarded(gait_page.render)
