"""index: the lexical index of the corpus and FAISS indexes of the fine-tuned and base embedders."""

import functools
import tempfile
from pathlib import Path

from common import WORKSPACE, params, stage

from ragtune.cache.encodings import EncodingMemo, encode_together, on_disk
from ragtune.compute.engine import engine_for
from ragtune.io import read_json, read_jsonl, write_json
from ragtune.models import encoders, shared_bottom
from ragtune.retrieval import dense, m3
from ragtune.retrieval.sparse import sparse_retriever
from ragtune.retrieval.sparse.bm25 import BM25Retriever
from ragtune.text.analysis import CharNgramAnalyzer, StoredMorphemes
from ragtune.text.language import uses_char_ngrams


@stage
def main() -> None:
    p = params()
    settings, out = p.index, WORKSPACE.indexes
    engine = engine_for(p.compute)  # where passages encode: here, or Ray actors (same vectors)
    documents = read_jsonl(WORKSPACE.documents)
    docids, texts = [d["docid"] for d in documents], [d["content"] for d in documents]
    language = read_json(WORKSPACE.collection)["language"]
    sparse = sparse_retriever(p.sparse, documents, language)
    if p.sparse.backend == "bm25s":  # reuse the corpus analysis made once in prepare
        analysed = StoredMorphemes(WORKSPACE.morphemes)  # read from disk as indexed: never all in memory
        sparse.index_tokens(docids, (sparse.analyzer.select(m) for m in analysed))
    else:
        sparse.index(docids, texts)
    sparse.save(out / "sparse")
    if settings.char_ngram and uses_char_ngrams(language):  # a second lexical view, where it measured better
        chars = BM25Retriever(CharNgramAnalyzer(settings.char_ngram), k1=p.sparse.k1, b=p.sparse.b)
        chars.index(docids, texts)
        chars.save(out / "sparse_char")
    WORKSPACE.encodings.mkdir(parents=True, exist_ok=True)
    vectors_dir = tempfile.TemporaryDirectory(dir=WORKSPACE.encodings, prefix="index-")  # removed when it goes
    scratch = Path(vectors_dir.name)
    models = {"dense": WORKSPACE.embedder, "dense_base": WORKSPACE.base_model}
    length, quantize, devices = p.model.passage_max_len, settings.quantize, settings.devices  # devices: null or a pool
    options = dict(device=devices, batch_size=settings.batch_size, passage_max_length=length, quantize=quantize)
    options["precision"] = settings.precision
    key = ("passage", length, encoders.arithmetic_key(quantize, settings.precision), encoders.devices_key(devices))
    remembered = ("dense_base",) if settings.m3_sparse else models  # BGE-M3's lexical weights are not remembered
    memos = {name: EncodingMemo(WORKSPACE.encodings, models[name], *key) for name in remembered}
    if len(memos) == 2:  # the layers both models share (frozen in train) run once for both
        joint = shared_bottom.joint_encoder(lambda: engine.load_pair(*models.values(), **options), "passage")
        if together := encode_together(list(memos.values()), texts, joint):
            print(f"index: dense, dense_base: {together} passages encoded by both models at once (a shared bottom)")
    for name, model_dir in models.items():
        encoder = functools.cache(functools.partial(engine.load_encoder, model_dir, **options))  # only if needed
        if name == "dense" and settings.m3_sparse:  # BGE-M3's learned sparse weights of the fine-tuned model
            encoded = encoder().encode(texts, kind="passage", lexical=True)
            vectors = encoded.dense
            m3.save_sparse_matrix(m3.sparse_matrix(encoded.lexical, encoder().vocab_size), out / name / "lexical.npz")
        else:  # remembered per text by model bytes + settings: an unchanged base is not encoded again
            memo = memos[name]
            vectors = memo.encode_into(  # chunk by chunk into a .npy on disk: the corpus is never in memory twice
                texts,
                lambda batch: encoder().encode(batch, kind="passage").dense,  # noqa: B023
                on_disk(scratch / f"{name}.npy"),
            )
            print(f"index: {name}: {memo.remembered} passage vectors remembered, {memo.encoded} encoded")
        index = dense.build_faiss(vectors, kind=settings.faiss, **dense.build_options(settings))
        dense.save_faiss(index, out / name / "faiss.index")
        write_json(out / name / "docids.json", docids)
        print(f"index: {name}: {vectors.shape[0]} passages, dim {vectors.shape[1]}, {dense.describe(index)}")
        del vectors, index


if __name__ == "__main__":
    main()
