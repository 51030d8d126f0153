"""What outlives a stage's outputs: where the stores live, remembered candidate searches, fusions and
passage vectors.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["encodings", "fusions", "location", "searches"],
    submod_attrs={
        "encodings": ["EncodingMemo", "encode_together"],
        "fusions": ["FusionMemo"],
        "location": ["cache_root", "git_common_dir"],
        "searches": ["SearchMemo", "fingerprint"],
    },
)
