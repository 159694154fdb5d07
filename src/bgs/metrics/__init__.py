"""Alignment metrics between model embeddings and human behavior."""
