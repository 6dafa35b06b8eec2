"""Page script run by st.navigation; the page itself lives in coach.ui.signin_page."""

from coach.ui import signin_page
from coach.ui.common import guarded

guarded(signin_page.render)
