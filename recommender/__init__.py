"""Undertone core: emotion space, towers, training, evaluation and search."""
