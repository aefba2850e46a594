"""Media: probing, frame sampling with shot changes, audio extraction, remuxing into segments."""
