"""Where batch work runs: in this process (`compute=local`) or on a Ray cluster's actor pool (`compute=ray`).

One code path for both: a workload (encoding, cross-encoder scoring, lexical analysis) is a picklable task whose
`load()` builds its batch function once (a model, an analyzer); a pool's `map_batches` calls it on every row in
process, or on Ray actors that each load it once and are kept from call to call. The names below are the public
surface; each loads its module on first use (lazy_loader), and Ray is imported only by a Ray engine.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["analysis", "engine", "models"],
    submod_attrs={
        "analysis": ["AnalyseTask", "iter_morphemes", "morpheme_rows", "morphemes"],
        "engine": ["Engine", "LocalEngine", "RayEngine", "engine_for"],
        "models": ["EncodeTask", "PooledEncoder", "PooledReranker", "ScoreTask"],
    },
)
