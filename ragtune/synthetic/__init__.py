"""Synthetic training questions: the offline generator, an LLM, or a file; the validation split.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["questions"],
    submod_attrs={
    },
)
