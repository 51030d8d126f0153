"""index: the lexical index of the corpus and FAISS indexes of the fine-tuned and base embedders."""

import functools

from common import params, path, stage
from lexical import sparse_retriever

from ragtune.cache.encodings import EncodingMemo
from ragtune.io import read_jsonl, write_json
from ragtune.models import encoders
from ragtune.retrieval import dense, m3
from ragtune.retrieval.sparse.bm25 import BM25Retriever
from ragtune.text.analysis import CharNgramAnalyzer

ENCODINGS = "models/.encodings"  # shared with the train stage's selection (ragtune/cache/encodings.py)


@stage
def main() -> None:
    p = params()
    documents = read_jsonl(path("data/prepared/documents.jsonl"))
    docids, texts = [d["docid"] for d in documents], [d["content"] for d in documents]

    sparse = sparse_retriever(p["sparse"], documents)
    if p["sparse"]["backend"] == "bm25s":  # reuse the corpus analysis made once in prepare
        morphemes = [row["morphemes"] for row in read_jsonl(path("data/prepared/morphemes.jsonl"))]
        sparse.index_tokens(docids, [sparse.analyzer.select(m) for m in morphemes])
    else:
        sparse.index(docids, texts)
    sparse.save(path("indexes/sparse"))
    if p["index"]["char_ngram"]:  # second lexical view: BM25 over character n-grams (always embedded)
        chars = BM25Retriever(CharNgramAnalyzer(p["index"]["char_ngram"]), k1=p["sparse"]["k1"], b=p["sparse"]["b"])
        chars.index(docids, texts)
        chars.save(path("indexes/sparse_char"))

    quantize, devices = p["index"]["quantize"], p["index"]["devices"]  # devices: null, or several (a pool)
    for name, model_dir in (("dense", "models/embedder"), ("dense_base", "models/base")):
        # loaded only when some passage is not remembered
        encoder = functools.cache(
            functools.partial(
                encoders.load_encoder,
                path(model_dir),
                device=devices,
                batch_size=p["index"]["batch_size"],
                passage_max_length=p["model"]["passage_max_len"],
                quantize=quantize,
            )
        )
        learned_sparse = name == "dense" and p["index"]["m3_sparse"]
        if learned_sparse:  # BGE-M3's lexical weights of the fine-tuned model, one CSR row per passage
            encoded = encoder().encode(texts, kind="passage", lexical=True)
            vectors = encoded.dense
            m3.save_sparse_matrix(
                m3.sparse_matrix(encoded.lexical, encoder().vocab_size), path(f"indexes/{name}/lexical.npz")
            )
        else:  # remembered per text by model bytes + settings: an unchanged base is not encoded again
            memo = EncodingMemo(
                path(ENCODINGS),
                path(model_dir),
                "passage",
                p["model"]["passage_max_len"],
                quantize,
                encoders.devices_key(devices),
            )
            vectors = memo.encode(texts, lambda batch, load=encoder: load().encode(batch, kind="passage").dense)
            print(f"index: {name}: {memo.remembered} passage vectors remembered, {memo.encoded} encoded")
        index = dense.build_faiss(vectors, kind=p["index"]["faiss"], **p["index"].get("faiss_options", {}))
        dense.save_faiss(index, path(f"indexes/{name}/faiss.index"))
        write_json(path(f"indexes/{name}/docids.json"), docids)
        print(f"index: {name}: {vectors.shape[0]} passages, dim {vectors.shape[1]}")


if __name__ == "__main__":
    main()
