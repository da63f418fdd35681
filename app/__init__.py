"""The Streamlit dashboard: reads the published warehouse's marts, never writes (README)."""
