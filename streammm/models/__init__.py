"""Models behind small Protocols, created by name from configuration and loaded once per process."""
