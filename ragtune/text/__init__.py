"""Text for lexical matching: normalisation and the analyzers that turn a text into the terms BM25 sees."""
