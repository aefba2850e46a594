"""streammm: streaming video understanding — frames, speech and on-screen text into cited moments."""

__version__ = "0.1.0"
