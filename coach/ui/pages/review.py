"""Page script run by st.navigation; the page itself lives in coach.ui.review_page."""

from coach.ui import review_page
from coach.ui.common import guarded

guarded(review_page.render)
