"""Page scripts for st.navigation (each one line: the page lives in coach.ui.*_page)."""
