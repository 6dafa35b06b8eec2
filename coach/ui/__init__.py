"""The Streamlit app: pages, WebRTC glue, audio and charts (thin: logic lives in coach.*)."""
