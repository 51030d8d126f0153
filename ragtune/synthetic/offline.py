"""Synthetic training questions without an LLM: Korean templates about key phrases, two generators, copy statistics.

Without an LLM, questions can still teach a retriever what a document is about. Two generators:
- `inverse_cloze` (legacy): one sentence of the document stands in for a question, alternating with
  key-phrase templates. The sentences are copies, so a model trained on them learns to match copies
  (measured: e5-small got worse on real questions while its loss fell to ~0.001).
- `varied` (default): no copied sentences. Keyword queries, template questions about key phrases
  (TF·IDF over the corpus), compressed sentences (content words only, particles and endings stripped,
  words dropped, sometimes reordered) and 왜/어떻게/무엇 questions about a sentence's subject; a
  candidate sharing a word trigram or a long character span with its document is rejected.
Everything is seeded per document, so adding a document never changes another's questions.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence

from ragtune.seeding import keyed_rng
from ragtune.text.analysis import QUESTION_SCAFFOLDING

NOUN_TAGS = ("NNG", "NNP", "SL")

# {a}, {b}: key phrases; {a_i}: {a} + the topic particle that fits its last syllable, etc.
SINGLE_TEMPLATES = (
    "{a_i} 무엇인가요?",
    "{a}에 대해 설명해줘.",
    "{a}의 특징은 무엇인가?",
    "{a_i} 왜 중요한가요?",
    "{a}에 대해 알려줘.",
)
PAIR_TEMPLATES = (
    "{a_wa} {b}의 관계는 무엇인가요?",
    "{a_i} {b}에 어떤 영향을 미치나요?",
    "{a}에서 {b}의 역할은 무엇인가?",
    "{a_wa} {b}에 대해 설명해줘.",
)


def has_final_consonant(word: str) -> bool:
    """True when the last Hangul syllable ends in a consonant (받침), which picks 은/는, 과/와."""
    last = word[-1]
    if "가" <= last <= "힣":
        return (ord(last) - ord("가")) % 28 != 0
    return False


def _fill(template: str, a: str, b: str = "") -> str:
    return template.format(
        a=a,
        b=b,
        a_i=a + ("은" if has_final_consonant(a) else "는"),
        a_wa=a + ("과" if has_final_consonant(a) else "와"),
    )


def inverse_document_frequency(morphemes: Sequence[Sequence[tuple[str, str]]]) -> dict[str, float]:
    df = Counter()
    for doc in morphemes:
        df.update({form for form, tag in doc if tag in NOUN_TAGS})
    n = len(morphemes)
    return {term: math.log((n + 1) / (count + 0.5)) for term, count in df.items()}


def key_phrases(morphemes: Sequence[tuple[str, str]], idf: dict[str, float], top: int = 4) -> list[str]:
    """Nouns of two or more characters ranked by TF·IDF; adjacent nouns kept as one compound when both qualify."""
    counts = Counter()
    previous = None
    for form, tag in morphemes:
        if tag in NOUN_TAGS and len(form) >= 2:
            counts[form] += 1
            if previous is not None:
                counts[f"{previous} {form}"] += 0.5  # compounds like "세포 분열" read better than either half
            previous = form
        else:
            previous = None
    scored = {term: tf * min(idf.get(part, 0.0) for part in term.split()) for term, tf in counts.items()}
    ranked = sorted(scored, key=lambda term: (-scored[term], term))
    chosen: list[str] = []
    for term in ranked:
        if not any(term in c or c in term for c in chosen):
            chosen.append(term)
        if len(chosen) == top:
            break
    return chosen


def offline_questions(docid: str, sentences: Sequence[str], phrases: Sequence[str], n: int, seed: int) -> list[str]:
    """n distinct questions for one document, alternating inverse-cloze and key-phrase forms."""
    rng = keyed_rng(docid, seed)
    cloze = [s.rstrip(".!? ") for s in sentences if len(s) >= 15]
    rng.shuffle(cloze)
    made: list[str] = []
    for i in range(n * 3):  # a few spare attempts for duplicates and short documents
        if len(made) == n:
            break
        form = i % 3
        if form == 0 and cloze:
            question = cloze.pop()
        elif form == 2 and len(phrases) >= 2:
            a, b = rng.sample(list(phrases[:4]), 2)
            question = _fill(rng.choice(PAIR_TEMPLATES), a, b)
        elif phrases:
            question = _fill(rng.choice(SINGLE_TEMPLATES), rng.choice(list(phrases[:3])))
        else:
            continue
        if question not in made:
            made.append(question)
    return made


# --- varied offline questions: no copied sentences -------------------------------------------

CHUNK_NOUN_TAGS = ("NNG", "NNP", "SL", "SH", "XR")
SUBJECT_PARTICLES = ("JX", "JKS")  # 은/는/도, 이/가: the chunk before the first one is the sentence's subject
KEYWORD_TAILS = ("", "", "", " 뜻", " 원리", " 이유", " 차이", " 예시", " 정리")
COMPRESSED_TAILS = ("", "", "?", " 왜?", " 이유", " 어떻게?", " 뭐야?", " 설명")
SINGLE_QUESTIONS = SINGLE_TEMPLATES + (
    "{a_ga} 뭐야?",
    "{a_ul} 쉽게 설명해 줄래?",
    "{a_i} 어떻게 작동하나요?",
    "{a}의 원리가 궁금해요",
    "{a_i} 왜 생기나요?",
    "{a}의 예를 들어줘",
)
PAIR_QUESTIONS = PAIR_TEMPLATES + (
    "{a_wa} {b}의 차이가 뭐야?",
    "{a_i} {b}{b_wa} 어떻게 연결되나요?",
    "{b}{b_ui} 관점에서 {a_ul} 설명해줘",
)
SUBJECT_QUESTIONS = (
    "{a_i} 왜 {b}{b_wa} 관련이 있나요?",
    "{a_i} 어떻게 {b}에 영향을 주나요?",
    "{a}에서 {b}{b_i} 무엇을 뜻하나요?",
    "무엇이 {a}의 {b}{b_ul} 결정하나요?",
    "{a_i} 무엇이고 {b}{b_wa} 어떤 관계야?",
    "왜 {a}에서 {b}{b_ga} 중요해?",
    "{a_i} {b}{b_wa} 관련해서 어떻게 설명되나요?",
    "{b}의 측면에서 {a_i} 왜 그런가요?",
)
VARIED_FORMS = ("keywords", "template", "compressed", "subject")
CONNECTIVES = frozenset(
    {
        "이러",
        "그러",
        "저러",
        "반면",
        "다음",
        "이후",
        "또한",
        "따라서",
        "때문",
        "경우",
        "정도",
        "위하다",
        "같다",
        "이다",
        "통하다",
        "대하다",
        "관하다",
        "의하다",
        "인하다",
    }
)  # glue words, not topics


def _particles(word: str, prefix: str) -> dict[str, str]:
    final = has_final_consonant(word)
    return {
        f"{prefix}_i": "은" if final else "는",
        f"{prefix}_wa": "과" if final else "와",
        f"{prefix}_ul": "을" if final else "를",
        f"{prefix}_ga": "이" if final else "가",
        f"{prefix}_ui": "의",
    }


def _fill_any(template: str, a: str, b: str = "") -> str:
    """Template with {a}/{b} and particles after them: {a_i} 은/는, {a_wa} 과/와, {a_ul} 을/를, {a_ga} 이/가;
    `{b}{b_wa}` spells a particle after b (b's own key holds only the particle)."""
    pa = {k: a + v for k, v in _particles(a, "a").items()}
    pb = _particles(b, "b") if b else {k: "" for k in _particles("x", "b")}
    return template.format(a=a, b=b, **pa, **pb)


def content_chunks(morphemes: Sequence[tuple[str, str]]) -> tuple[list[str], str | None]:
    """A sentence's content words with particles and endings stripped: runs of nouns joined by spaces
    (suffixes like 적/성 kept on their noun), verb and adjective stems in dictionary form (stem + 다).
    Also the subject: the chunk just before the first 은/는/이/가, if any."""
    chunks: list[str] = []
    run: list[str] = []
    subject = None

    def close() -> None:
        if run:
            chunks.append(" ".join(run))
            run.clear()

    for form, tag in morphemes:
        if tag in CHUNK_NOUN_TAGS or tag == "SN" and run:
            run.append(form)
        elif tag == "XSN" and run:
            run[-1] += form
        elif tag in ("VV", "VA"):
            close()
            if form not in QUESTION_SCAFFOLDING:
                chunks.append(form + "다")
        else:
            close()
            if tag in SUBJECT_PARTICLES and subject is None and chunks and not chunks[-1].endswith("다"):
                subject = chunks[-1]
    close()
    unique = list(
        dict.fromkeys(c for c in chunks if c not in QUESTION_SCAFFOLDING and c not in CONNECTIVES and len(c) >= 2)
    )
    return unique, subject if subject in unique else None


def longest_copied_span(question: str, document: str) -> int:
    """Length of the longest substring of the question that occurs verbatim in the document."""
    low, high = 0, len(question)
    while low < high:  # monotone: a copied span of length L contains copied spans of every shorter length
        mid = (low + high + 1) // 2
        if any(question[i : i + mid] in document for i in range(len(question) - mid + 1)):
            low = mid
        else:
            high = mid - 1
    return low


def _words(text: str) -> list[str]:
    return [w.strip(".,!?;:\"'()[]") for w in text.split() if w.strip(".,!?;:\"'()[]")]


def shares_word_ngram(question: str, document_words: set[tuple[str, ...]], n: int = 3) -> bool:
    words = _words(question)
    return any(tuple(words[i : i + n]) in document_words for i in range(len(words) - n + 1))


def document_word_ngrams(document: str, n: int = 3) -> set[tuple[str, ...]]:
    words = _words(document)
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _weighted_pick(rng: random.Random, items: Sequence[str], weights: Sequence[float], k: int) -> list[str]:
    """k distinct items, each drawn with probability ∝ weight; returned in their original order."""
    pool = list(range(len(items)))
    chosen: list[int] = []
    for _ in range(min(k, len(pool))):
        total = sum(weights[i] for i in pool)
        target, upto = rng.random() * total, 0.0
        for i in pool:
            upto += weights[i]
            if upto >= target:
                break
        chosen.append(i)
        pool.remove(i)
    return [items[i] for i in sorted(chosen)]


def _chunk_weight(chunk: str, idf: dict[str, float]) -> float:
    return max([idf.get(part, 0.0) for part in chunk.split()] + [0.1])


def varied_questions(
    docid: str,
    document: str,
    sentence_morphemes: Sequence[Sequence[tuple[str, str]]],
    phrases: Sequence[str],
    idf: dict[str, float],
    n: int,
    seed: int,
    max_copied_chars: int = 16,
) -> list[str]:
    """n distinct questions for one document in rotating forms (keywords, template, compressed sentence,
    subject question), none sharing a word trigram or more than `max_copied_chars` consecutive
    characters with the document. Fewer than n when the document is too short to phrase them."""
    rng = keyed_rng(docid, seed)
    text = " ".join(document.split())
    trigrams = document_word_ngrams(text)
    sentences = [content_chunks(m) for m in sentence_morphemes]
    sentences = [(chunks, subject) for chunks, subject in sentences if len(chunks) >= 2]
    rng.shuffle(sentences)
    top = list(phrases[:4])
    start = rng.randrange(len(VARIED_FORMS))
    made: list[str] = []
    for attempt in range(n * 6):  # spare attempts for rejected copies, duplicates and short documents
        if len(made) == n:
            break
        form = VARIED_FORMS[(start + attempt) % len(VARIED_FORMS)]
        chunks, subject = sentences[attempt % len(sentences)] if sentences else ([], None)
        question = None
        if form == "keywords" and (top or chunks):
            pool = list(dict.fromkeys(top[:2] + chunks))
            words = [
                w
                for w in _weighted_pick(rng, pool, [_chunk_weight(c, idf) for c in pool], rng.choice((2, 2, 3)))
                if not w.endswith("다")
            ]
            if words:
                rng.shuffle(words)
                question = " ".join(words) + rng.choice(KEYWORD_TAILS)
        elif form == "template" and top:
            if len(top) >= 2 and rng.random() < 0.5:
                a, b = rng.sample(top, 2)
                question = _fill_any(rng.choice(PAIR_QUESTIONS), a, b)
            else:
                question = _fill_any(rng.choice(SINGLE_QUESTIONS), rng.choice(top[:3]))
        elif form == "compressed" and len(chunks) >= 3:
            keep = max(2, min(6, round(len(chunks) * rng.uniform(0.4, 0.7))))
            words = _weighted_pick(rng, chunks, [_chunk_weight(c, idf) for c in chunks], keep)
            if rng.random() < 0.35:
                i = rng.randrange(len(words) - 1)
                words[i], words[i + 1] = words[i + 1], words[i]
            question = " ".join(words) + rng.choice(COMPRESSED_TAILS)
        elif form == "subject" and (subject or top):
            a = subject or top[0]
            others = [c for c in chunks + top if c != a and a not in c and c not in a and not c.endswith("다")]
            if others:
                b = max(others, key=lambda c: (_chunk_weight(c, idf), c))
                question = _fill_any(rng.choice(SUBJECT_QUESTIONS), a, b)
        if not question or question in made:
            continue
        if shares_word_ngram(question, trigrams) or longest_copied_span(question, text) > max_copied_chars:
            continue
        made.append(question)
    return made


def offline_pairs(
    documents: Sequence[dict],
    morphemes: Sequence[Sequence[tuple[str, str]]],
    analyzer,
    generator: str,
    per_document: int,
    seed: int,
    max_copied_chars: int = 16,
    language: str = "ko",
) -> list[dict]:
    """`{query, docid, source: "offline"}` pairs for every document, in corpus order, from `generator`
    (`varied` or the legacy `inverse_cloze`); `analyzer` splits sentences and morphemes (ragtune.text.analysis).

    `language` is the corpus's: `ko` (the Korean generators below, unchanged), or `en`, `mixed`, `zh`, `ja`
    (ragtune.synthetic.languages: English questions, per-document choice, bigram keyword fallback); pass
    the morphemes of the analyzer for that language (`EnglishAnalyzer`, `MixedAnalyzer`)."""
    if language != "ko":
        from ragtune.synthetic.languages import language_pairs

        return language_pairs(documents, morphemes, analyzer, generator, per_document, seed, max_copied_chars, language)
    idf = inverse_document_frequency(morphemes)
    pairs = []
    for document, morphs in zip(documents, morphemes):
        phrases = key_phrases(morphs, idf)
        sentences = analyzer.sentences(document["content"])
        if generator == "varied":
            made = varied_questions(
                document["docid"],
                document["content"],
                analyzer.morphemes(sentences),
                phrases,
                idf,
                per_document,
                seed,
                max_copied_chars,
            )
        elif generator == "inverse_cloze":
            made = offline_questions(document["docid"], sentences, phrases, per_document, seed)
        else:
            raise ValueError(f"queries.generator must be 'varied' or 'inverse_cloze', got {generator!r}")
        pairs.extend({"query": question, "docid": document["docid"], "source": "offline"} for question in made)
    return pairs


def copy_statistics(pairs: Sequence[dict], documents: dict[str, str]) -> dict:
    """How much questions copy their documents: mean and max longest copied span, share with a shared word trigram."""
    if not pairs:
        return {"mean_copied_span": 0.0, "max_copied_span": 0, "word_trigram_share": 0.0}
    spans, shared = [], 0
    for pair in pairs:
        text = " ".join(documents[pair["docid"]].split())
        spans.append(longest_copied_span(pair["query"], text))
        shared += shares_word_ngram(pair["query"], document_word_ngrams(text))
    return {
        "mean_copied_span": round(sum(spans) / len(spans), 2),
        "max_copied_span": max(spans),
        "word_trigram_share": round(shared / len(pairs), 4),
    }
