"""Question answering and moment search: retrieval strategies, moments, answerers, citations."""
