"""Page script run by st.navigation; the page itself lives in coach.ui.exercise_page."""

from coach.ui import exercise_page
from coach.ui.common import guarded

guarded(exercise_page.render)
