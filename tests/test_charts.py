import subprocess
import sys

import pytest

from ragtune.charts import Painter
from ragtune.evaluation import report

CURVES = {"bm25": [{"k": 1, "recall": 0.5}, {"k": 10, "recall": 0.9}], "dense": [{"k": 1, "recall": 0.6}]}
METRICS = {"bm25": {"map@3": 0.5, "mrr@10": 0.55}, "dense": {"map@3": 0.7, "mrr@10": 0.72}}


def test_a_painter_draws_the_same_bytes_as_the_caller(tmp_path):
    report.plot_recall_curves(CURVES, tmp_path / "here_recall.png", title="t")
    report.plot_map_by_retriever(METRICS, tmp_path / "here_map.png")
    with Painter() as painter:
        painter.draw(report.plot_recall_curves, CURVES, tmp_path / "there_recall.png", title="t")
        painter.draw(report.plot_map_by_retriever, METRICS, tmp_path / "there_map.png")
    for name in ("recall", "map"):
        assert (tmp_path / f"there_{name}.png").read_bytes() == (tmp_path / f"here_{name}.png").read_bytes()


def test_a_drawing_that_fails_fails_the_block(tmp_path):
    with pytest.raises(ValueError, match="missing for retriever"):
        with Painter() as painter:
            painter.draw(report.plot_map_by_retriever, {"dense": {"mrr@10": 0.5}}, tmp_path / "map.png")
    assert not (tmp_path / "map.png").exists()


def test_the_caller_never_loads_matplotlib(tmp_path):
    # evaluate writes the report and queues the pictures: matplotlib's import (half a second) is the worker's
    code = (
        "import sys; from ragtune.charts import Painter; from ragtune.evaluation import report\n"
        "from ragtune.evaluation.report import source_plots\n"
        f"with Painter() as painter: source_plots(painter, lambda p: __import__('pathlib').Path({str(tmp_path)!r}, p),"
        f" 'dev', {CURVES!r}, {METRICS!r}, {{}}, {{'q1': ['d1']}}, None)\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib loaded in the caller'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["map_dev.png", "recall_dev.png"]
    assert (tmp_path / "map" / "dev.json").exists() and (tmp_path / "recall" / "dev.json").exists()


def test_the_worker_does_not_import_the_callers_script(tmp_path):
    # multiprocessing would import a stage's script in the worker first (its settings and libraries, a quarter of a
    # second before matplotlib); the drawings are functions of importable modules
    script = tmp_path / "stage.py"
    script.write_text(
        "import pathlib, sys\n"
        "if __name__ != '__main__':\n"
        f"    pathlib.Path({str(tmp_path / 'imported')!r}).write_text(__name__)\n"
        "from ragtune.charts import Painter\n"
        "if __name__ == '__main__':\n"
        "    with Painter() as painter:\n"
        "        painter.draw(pathlib.Path.touch, pathlib.Path(sys.argv[1]))\n"
        "    assert __file__ == sys.argv[0], __file__\n",
        encoding="utf-8",
    )
    subprocess.run([sys.executable, str(script), str(tmp_path / "drawn")], check=True, cwd=tmp_path)
    assert (tmp_path / "drawn").exists() and not (tmp_path / "imported").exists()
