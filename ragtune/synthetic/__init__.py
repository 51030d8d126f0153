"""Synthetic training questions: the offline generator, an LLM, or a file; the validation split."""
