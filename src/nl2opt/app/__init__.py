"""The Streamlit chat app. Built in the app issue."""
