"""Evaluation: metrics and the harness that compares retrieval strategies."""
