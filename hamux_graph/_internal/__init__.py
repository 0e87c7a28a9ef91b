"""Helpers every stage may use: argument parsing, introspection, files, untrusted input, optional extras, progress."""
