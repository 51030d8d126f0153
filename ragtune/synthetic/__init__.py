"""Synthetic training questions: offline generators (Korean, English, per language), an LLM, or a file;
the round trip; the validation split.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["english", "files", "languages", "llm", "offline", "roundtrip", "split"],
    submod_attrs={
        "english": ["english_idf", "english_key_phrases", "english_questions", "phrase_pairs"],
        "files": ["combine_file_questions", "read_question_file", "with_file_questions"],
        "languages": ["bigram_questions", "document_language", "language_pairs"],
        "llm": ["with_llm_questions"],
        "offline": [
            "content_chunks",
            "copy_statistics",
            "document_word_ngrams",
            "inverse_document_frequency",
            "key_phrases",
            "longest_copied_span",
            "offline_pairs",
            "offline_questions",
            "shares_word_ngram",
            "varied_questions",
        ],
        "roundtrip": ["round_trip_filter"],
        "split": ["holdout_documents", "split_validation"],
    },
)
