"""Frozen encoders (towers); importing this package registers every built-in tower."""
