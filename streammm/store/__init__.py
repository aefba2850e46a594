"""Clip stores: one Protocol, an embedded backend (the default) and a Weaviate backend."""
