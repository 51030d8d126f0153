"""Inputs and outputs in the competition's shapes: documents, questions and labels read and validated; the submission."""
