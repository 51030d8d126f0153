"""Inputs and outputs: documents, questions and labels read and validated; the submission file."""
