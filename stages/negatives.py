"""negatives: hard negatives for each synthetic question → FlagEmbedding's {query, pos, neg} training file.

Candidates come from BM25 (`pool`) and, when `dense_pool` > 0, from the base dense model; with
`teacher_scores` the base cross-encoder scores every positive and negative (for distillation).
"""

import tempfile
from pathlib import Path

from common import WORKSPACE, params, stage

from ragtune.compute.engine import engine_for
from ragtune.io import read_json, read_jsonl, write_json, write_jsonl
from ragtune.models import sources
from ragtune.models.hub import require_model
from ragtune.retrieval.sparse import embedded_bm25
from ragtune.text.analysis import StoredMorphemes
from ragtune.training import negatives


@stage
def main() -> None:
    p = params()
    settings, model, reranker = p.negatives, p.model, p.reranker
    if settings.teacher_scores:  # the cross-encoder is reachable (or configured at all) before mining
        sources.check_teacher(reranker.name)
        if reranker.architecture is None:
            require_model(reranker.path, "reranker.path", reranker.revision)
    documents = read_jsonl(WORKSPACE.documents)
    pairs = read_jsonl(WORKSPACE.train_questions)
    texts = {d["docid"]: d["content"] for d in documents}
    docids = [d["docid"] for d in documents]
    queries = [pair["query"] for pair in pairs]
    language = read_json(WORKSPACE.collection)["language"]
    engine = engine_for(p.compute)  # where dense mining encodes and the teacher scores: here, or Ray actors
    bm25 = embedded_bm25(settings.bm25, language)  # mining BM25, not retrieval's (the sparse group)
    analysed = StoredMorphemes(WORKSPACE.morphemes)  # read from disk as indexed: never all in memory
    bm25.index_tokens(docids, (bm25.analyzer.select(m) for m in analysed))
    pools = [[hits] for hits in bm25.search(queries, settings.pool)]
    with tempfile.TemporaryDirectory(prefix="ragtune-negatives-") as scratch:
        base = WORKSPACE.base_model  # the base stage's: the model train starts from
        if settings.dense_pool > 0:
            encoder = engine.load_encoder(
                base,
                device=p.index.devices,
                precision=p.index.precision,
                query_max_length=model.query_max_len,
                passage_max_length=model.passage_max_len,
            )
            dense = negatives.dense_pools(encoder, queries, docids, [texts[d] for d in docids], settings.dense_pool)
            pools = [[*bm25_pools, hits] for bm25_pools, hits in zip(pools, dense)]
        rule = negatives.NegativeFilter.from_settings(settings)
        stats = negatives.MiningStats()
        rows = negatives.training_rows(pairs, pools, texts, docids, rule, stats, p.seed, progress=True)
        if settings.teacher_scores:
            teacher = sources.teacher_reranker(reranker, base, Path(scratch) / "reranker", p.seed, engine)
            rows = negatives.teacher_scores(teacher, rows)
    write_jsonl(WORKSPACE.training_file, rows)
    write_json(WORKSPACE.metrics("negatives"), stats.as_dict())
    print(f"negatives: {stats.as_dict()}")


if __name__ == "__main__":
    main()
