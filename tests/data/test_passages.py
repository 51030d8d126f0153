"""Passage splitting: limits, boundaries, heading trails, overlap, offsets and stable ids."""

from __future__ import annotations

import random

import pytest

from ragtune.data.documents import HEADING, TEXT, make_document
from ragtune.data.passages import approx_tokens, context_prefix, split_document, split_documents

WORDS = "the power button breaker reset device firmware update network cable schedule sensor".split()


def sentence(rng, n=12):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def manual(rng, sections=4, paragraphs=5):
    pieces = [(HEADING, "Manual", 1)]
    for s in range(sections):
        pieces.append((HEADING, f"Section {s}", 2))
        for p in range(paragraphs):
            if p == 2:
                pieces.append((HEADING, f"Detail {s}.{p}", 3))
            pieces.append((TEXT, " ".join(sentence(rng) for _ in range(rng.randint(1, 6))), 0))
    return make_document("docs/manual.md", "Manual", pieces)


@pytest.mark.parametrize("max_tokens,overlap", [(40, 0), (64, 16), (200, 32)])
def test_limits_offsets_and_sections(max_tokens, overlap):
    document = manual(random.Random(1))
    passages = split_document(document, max_tokens=max_tokens, overlap=overlap)
    assert len(passages) > 4
    for passage in passages:
        assert approx_tokens(passage.context) <= max_tokens
        assert document.text[passage.start : passage.end] == passage.text
        assert passage.path == "docs/manual.md" and passage.headings[0] == "Manual"
    # every text block is covered by some passage; no passage crosses a heading
    headings = [b for b in document.blocks if b.kind == HEADING]
    for passage in passages:
        assert not any(passage.start < h.start < passage.end for h in headings)
    for block in document.blocks:
        if block.kind == TEXT:
            covered = [(p.start, p.end) for p in passages if p.start < block.end and p.end > block.start]
            assert min(s for s, _ in covered) <= block.start and max(e for _, e in covered) >= block.end


def test_heading_trail_and_context():
    document = make_document(
        "a.md",
        "",
        [(HEADING, "Guide", 1), (TEXT, "intro", 0), (HEADING, "Setup", 2), (HEADING, "Wiring", 3), (TEXT, "w", 0)]
        + [(HEADING, "Use", 2), (TEXT, "u", 0)],
    )
    trails = [p.headings for p in split_document(document)]
    assert trails == [("Guide",), ("Guide", "Setup", "Wiring"), ("Guide", "Use")]
    last = split_document(document)[-1]
    assert last.context == "Guide > Use\n\nu" and last.text == "u"  # the title repeats the h1: said once
    assert context_prefix("Title", ["A", "B"]) == "Title > A > B"


def test_ids_stable_and_numbered_per_document():
    rng = random.Random(2)
    document = manual(rng)
    first = split_document(document, max_tokens=50, overlap=8)
    again = split_document(manual(random.Random(2)), max_tokens=50, overlap=8)
    assert [p.id for p in first] == [p.id for p in again] == [f"docs/manual.md#{n}" for n in range(len(first))]
    record = make_document("faq.csv", "", [(TEXT, "row text", 0)], record="r1")
    assert split_documents([record])[0].id == "faq.csv:r1#0"


def test_overlap_between_consecutive_passages_of_a_section():
    rng = random.Random(3)
    paragraph = " ".join(sentence(rng, 6) for _ in range(60))
    document = make_document("long.txt", "Long", [(TEXT, paragraph, 0)])
    passages = split_document(document, max_tokens=60, overlap=15)
    assert len(passages) > 5
    for before, after in zip(passages, passages[1:]):
        assert after.start < before.end  # they share text
        assert approx_tokens(document.text[after.start : before.end]) <= 15
        assert document.text[after.start - 1] == " "  # the overlap starts at a word
    without = split_document(document, max_tokens=60, overlap=0)
    assert all(a.start >= b.end for b, a in zip(without, without[1:]))


def test_paragraph_boundaries_preferred_over_sentences():
    rng = random.Random(4)
    paragraphs = [" ".join(sentence(rng, 8) for _ in range(3)) for _ in range(6)]
    document = make_document("p.txt", "", [(TEXT, p, 0) for p in paragraphs])
    block_starts = {b.start for b in document.blocks}
    passages = split_document(document, max_tokens=100, overlap=0)
    assert all(p.start in block_starts for p in passages)


def test_sentences_without_spaces_and_a_two_megabyte_document():
    korean = make_document("ko.txt", "", [(TEXT, "가나다라마바사" * 2000, 0)])  # one "word"
    passages = split_document(korean, max_tokens=64, overlap=0)
    assert len(passages) > 50 and all(approx_tokens(p.context) <= 64 for p in passages)
    assert "".join(p.text for p in passages) == korean.text
    rng = random.Random(5)
    big = make_document("big.txt", "Big", [(TEXT, " ".join(sentence(rng) for _ in range(30)), 0) for _ in range(800)])
    assert len(big.text) > 2_000_000 // 1.1
    passages = split_document(big)
    assert len(passages) > 1000
    assert all(big.text[p.start : p.end] == p.text for p in passages[::97])


def test_custom_counter_and_bad_limits():
    document = manual(random.Random(6))
    words = lambda text: len(text.split())  # noqa: E731
    passages = split_document(document, max_tokens=30, overlap=5, count_tokens=words)
    assert all(words(p.context) <= 30 for p in passages)
    with pytest.raises(ValueError, match="overlap"):
        split_document(document, max_tokens=40, overlap=30)
    with pytest.raises(ValueError, match="max_tokens"):
        split_document(document, max_tokens=4)


def test_approx_tokens_errs_high_on_plain_words():
    assert approx_tokens("") == 0 and approx_tokens("   ") == 0
    assert approx_tokens("hello world") == 2
    assert approx_tokens("configuration") == 3
    assert approx_tokens("전원을 끄세요.") == 2 + 2 + 1
