"""Text for lexical matching: normalisation and the analyzers that turn a text into the terms BM25 sees.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["analysis"],
    submod_attrs={
        "analysis": [
            "CONTENT_TAGS",
            "CharNgramAnalyzer",
            "KoreanAnalyzer",
            "QUESTION_SCAFFOLDING",
            "StoredMorphemes",
            "analyzer_from_config",
            "check_indexable",
            "normalize",
        ],
    },
)
