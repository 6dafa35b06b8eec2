"""Page script run by st.navigation; the page itself lives in coach.ui.therapist_page."""

from coach.ui import therapist_page
from coach.ui.common import guarded

guarded(therapist_page.render)
