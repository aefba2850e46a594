"""The HTTP and websocket server: Q&A that cites moments, moment search, clips, the web page."""
