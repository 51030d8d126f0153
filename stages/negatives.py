"""negatives: hard negatives for each synthetic question → FlagEmbedding's {query, pos, neg} training file."""

from common import WORKERS, params, path, stage

from ragtune.io import read_jsonl, write_json, write_jsonl
from ragtune.negatives import MiningStats, NegativeFilter, mine_negatives
from ragtune.sparse.bm25 import BM25Retriever
from ragtune.text import KoreanAnalyzer
from tqdm import tqdm


@stage
def main() -> None:
    p = params()
    config = p["negatives"]
    documents = read_jsonl(path("data/prepared/documents.jsonl"))
    morphemes = [row["morphemes"] for row in read_jsonl(path("data/prepared/morphemes.jsonl"))]
    pairs = read_jsonl(path("data/queries/train.jsonl"))
    texts = {d["docid"]: d["content"] for d in documents}
    docids = [d["docid"] for d in documents]

    analyzer = KoreanAnalyzer.from_config(p["sparse"]["analyzer"], num_workers=WORKERS)
    bm25 = BM25Retriever(analyzer, k1=p["sparse"]["k1"], b=p["sparse"]["b"])
    bm25.index_tokens(docids, [analyzer.select(m) for m in morphemes])
    pools = [[hits] for hits in bm25.search([pair["query"] for pair in pairs], config["pool"])]

    rule = NegativeFilter(k=config["k"], skip_top=config["skip_top"], margin=config["margin"],
                          near_duplicate=config["near_duplicate"])
    stats = MiningStats()
    rows = []
    for i, (pair, pool) in enumerate(tqdm(list(zip(pairs, pools)), desc="negatives", mininterval=2)):
        negatives = mine_negatives(pair["docid"], pool, texts, docids, rule, stats, f"{i}:{pair['docid']}", p["seed"])
        rows.append({"query": pair["query"], "pos": [texts[pair["docid"]]], "neg": [texts[d] for d in negatives],
                     "pos_id": pair["docid"], "neg_ids": negatives})
    write_jsonl(path("data/negatives/train.jsonl"), rows)
    write_json(path("metrics/negatives.json"), stats.as_dict())
    print(f"negatives: {stats.as_dict()}")


if __name__ == "__main__":
    main()
