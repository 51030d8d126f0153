"""Inputs and outputs: documents, questions and labels read and validated; the submission file.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["inputs", "submission"],
    submod_attrs={
        "inputs": ["load_documents", "load_labelled", "user_text"],
    },
)
