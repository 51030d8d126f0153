"""AnswerStore: LLM answers outside any pipeline output, from which the tracked cache is filled."""

import json
import os

from ragtune.cache.location import cache_root, git_common_dir
from ragtune.llm import AnswerStore, ResponseCache, generate_questions

KEY = "ab" + "0" * 62


def record(text: str) -> dict:
    return {"model": "m", "content": text, "finish_reason": "stop"}


def test_one_file_per_answer_written_by_a_rename(tmp_path):
    store = AnswerStore(tmp_path / "llm")
    store.put(KEY, record("A"))
    assert json.loads((tmp_path / "llm" / "ab" / f"{KEY}.json").read_text())["content"] == "A"
    assert store.get(KEY)["content"] == "A" and len(store) == 1
    assert not list((tmp_path / "llm").rglob("*.tmp"))


def test_an_unreadable_answer_file_counts_as_absent(tmp_path):
    store = AnswerStore(tmp_path)
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / f"{KEY}.json").write_text('{"key": "ab00', encoding="utf-8")  # a crash mid-write
    assert store.get(KEY) is None
    store.put(KEY, record("A"))
    assert store.get(KEY)["content"] == "A"


def test_the_tracked_file_is_filled_from_the_store_after_a_restore(tmp_path):
    store = AnswerStore(tmp_path / "store")
    tracked = tmp_path / "llm_cache.jsonl"
    cache = ResponseCache(tracked, store=store)
    cache.put(KEY, record("A"))
    assert not tracked.exists() or tracked.read_bytes() == b""  # nothing appended to the output: the store holds it
    tracked.write_bytes(b"")  # `dvc exp run` restores the committed (empty) output; then a rerun
    again = ResponseCache(tracked, store=store)
    assert again.get(KEY)["content"] == "A"
    again.compact()
    assert [json.loads(line)["key"] for line in tracked.read_text().splitlines()] == [KEY]


def test_a_rerun_after_a_restore_sends_nothing_and_keeps_no_secret(
    make_client, tmp_path, server, sample_docs, fake_key
):
    store = AnswerStore(tmp_path / "store")
    client = make_client(cache_name=None)
    client.cache = ResponseCache(tmp_path / "one.jsonl", store=store)
    first = generate_questions(client, sample_docs(6), 3)
    sent = server.requests
    rerun = make_client(cache_name=None)
    rerun.cache = ResponseCache(tmp_path / "two.jsonl", store=store)  # an empty tracked cache: restored
    again = generate_questions(rerun, sample_docs(6), 3)
    assert server.requests == sent and again.questions == first.questions
    assert all(fake_key not in p.read_text() for p in (tmp_path / "store").rglob("*.json"))


def test_cache_root_prefers_the_environment_then_the_git_common_dir(tmp_path):
    assert cache_root(tmp_path, {"RAGTUNE_CACHE_DIR": str(tmp_path / "c")}) == tmp_path / "c"
    repo = tmp_path / "repo"
    (repo / ".git" / "worktrees" / "w").mkdir(parents=True)
    (repo / ".git" / "worktrees" / "w" / "commondir").write_text("../..\n")
    worktree = tmp_path / "w"
    worktree.mkdir()
    (worktree / ".git").write_text(f"gitdir: {repo / '.git' / 'worktrees' / 'w'}\n")
    assert git_common_dir(repo) == (repo / ".git").resolve()
    assert git_common_dir(worktree) == (repo / ".git").resolve()  # `ragtune reproduce`'s worktree shares it
    assert cache_root(worktree, {}) == (repo / ".git").resolve() / "ragtune"
    outside = tmp_path / "plain"
    outside.mkdir()
    if git_common_dir(outside) is None:
        assert cache_root(outside, {"XDG_CACHE_HOME": str(tmp_path / "x")}) == tmp_path / "x" / "ragtune"
    assert os.sep not in KEY
