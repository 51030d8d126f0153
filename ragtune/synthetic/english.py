"""Offline English questions: what people type into a help centre's search box, about a passage's key phrases.

Works from the raw text (a passage's `content`, whose first paragraph is its heading trail when it has
one) plus the corpus IDF of the analyzer's words: `english_idf` reads the `morphemes()` output of
`EnglishAnalyzer` or `MixedAnalyzer` (lowercased surface words tagged SL/SN; other tags are ignored), so
IDF counts the same bm25s tokens the lexical index sees. The analyzer's word lists lose punctuation, which
is what ends a phrase, so phrases come from the text itself:

- Key phrases: runs of content words (no function word, instruction verb, adverb or past participle)
  inside one sentence or heading, cut into single words and adjacent pairs, ranked by TF·IDF with a bonus
  for pairs, for heading phrases and for pairs that recur elsewhere in the corpus (terms, not accidents).
  Pairs rank first: "room sensor", "face plate", "error code".
- Forms, rotating from a seeded start: keyword queries ("spirit level wall plugs"), what/how/why
  questions and problem reports about a phrase ("how does room sensor work", "wi-fi password not working"),
  two phrases together ("firmware update vs factory reset"), "how do I <verb> <object>" from an
  instruction in the text ("how do I pull battery tab"), and compressed sentences (a few content words of
  one sentence, in order, sometimes two swapped).
- No copies: a question sharing a word trigram or more than `max_copied_chars` consecutive characters with
  its passage is rejected (`longest_copied_span`, `shares_word_ngram`, compared case-insensitively), so at
  most two consecutive passage words ever appear together.

Seeded per document (`keyed_rng(docid, seed)`): a document's questions never depend on the others' beyond IDF.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ragtune.seeding import keyed_rng
from ragtune.synthetic.offline import _weighted_pick, document_word_ngrams, longest_copied_span, shares_word_ngram
from ragtune.text.sentences import split_sentences

_TOKEN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9'’.\-]*[A-Za-z0-9])?|[^\sA-Za-z0-9]+")
_PARTS = re.compile(r"\w\w+")
# Words that glue a sentence together but name nothing: they end a phrase.
FUNCTION_WORDS = frozenset(
    """a about above after again against all almost along already also although always am among an and another any
    anyone anything anywhere are around as at away back be because been before behind being below beside between
    both but by can cannot could did do does doing done down during each either else enough even ever every
    everyone everything few first for from further had has have having he her here hers him his how however i if
    in instead into is it its itself just last least less like many may me might more most much must my near
    never new next no nobody none nor not nothing now of off often on once one only onto or other others otherwise
    our out over own per please quite rather really same second several she should since so some someone
    something sometimes somewhere soon still such than that the their them then there therefore these they this
    those though through thus to today too twice two under until up upon us usually very via was we well were
    what whatever when whenever where whether which while who whole whom whose why will with within without
    would yes yet you your yours yourself three four five six seven eight nine ten able e.g i.e etc
    shown known taken given made built bought sent left kept held found gone seen written chosen broken ran took
    told got lost""".split()
)
# Verbs, in their base forms: they end a phrase ("sensor measures temperature") and open an instruction
# ("Pull the battery tab", "Inviting family members"); -s, -es, -ies, -ed and -ing forms are recognised.
VERBS = frozenset(
    """accept access add adjust allow appear apply arrive ask attach avoid become begin call carry cause change
    charge check choose clean clear close collect compare confirm connect contact continue count cover create
    cut decide delete depend describe detect disable disconnect download drop edit enable enter ensure explain
    feel fight find finish fit fix follow get give go happen help hold include insert install interpret
    introduce invite join keep know label learn leave let lift look lose make mark mean measure mount move need
    open pair pick place plug press print protect provide pull push put reach read receive reconnect record
    reduce register remain remind remove repeat replace report request reset respond restart resume return reuse
    rise run save say scan see seem select send set share shorten show slide start stay stop store support
    switch take tap tell tighten touch transfer try turn twist unplug unscrew update upgrade use wait wake want
    warn work write""".split()
)
# Listed verbs that are nouns as often: content after a noun or a determiner.
NOUN_VERBS = frozenset(
    """access change charge contact cover cut drop fit fix help label lock mark need pair print record report
    request reset return rise run set start stop store support switch touch turn update upgrade use""".split()
)
DETERMINERS = frozenset("a an the your my its this that each every no any some their our".split())
NOUN_ING = frozenset("pairing setting settings reading warning ring spring string building housing".split())
KEEP_ED = frozenset("speed bed feed need red shed seed bleed".split())
KEEP_LY = frozenset("supply assembly family reply apply italy only".split())
INSTRUCTION_HOW = ("how do I {verb} {a}", "how to {verb} {a}", "how can I {verb} {a}", "{verb} {a} how")
WHAT = ("what is {a}", "what does {a} mean", "what is {a} for", "{a} meaning", "what is the {a}", "{a} explained")
HOW = ("how does {a} work", "how do I use {a}", "how to set up {a}", "how do I change the {a}", "how to check {a}")
WHY = ("why is my {a} not working", "why does {a} matter", "why do I need {a}", "why is {a} important")
PROBLEM = ("{a} not working", "{a} problem", "{a} issue", "{a} stopped working", "trouble with {a}", "{a} help")
PAIR = ("{a} and {b}", "{a} vs {b}", "does {a} affect {b}", "{a} with {b}", "how does {a} affect {b}", "{a} {b}")
TAILS = ("", "", "", "?", " help", " how")
FORMS = ("keywords", "what", "how", "instruction", "problem", "compressed", "why", "pair")


@dataclass(frozen=True)
class Word:
    text: str  # as written
    low: str

    @property
    def shown(self) -> str:
        """Lowercase, as people type, except acronyms and model names ("QR", "T2", "Wi-Fi", "CR2477")."""
        rest_upper = any(c.isupper() for c in self.text[1:])
        return self.text if rest_upper or (self.text[0].isupper() and any(c.isdigit() for c in self.text)) else self.low


def verb_base(low: str, gerunds: bool = False) -> str | None:
    """The base form when `low` is a form of a listed verb ("measures" → measure, "inviting" → invite);
    -ing nouns ("pairing", "settings") only when `gerunds` (a heading's first word: "Pairing with the app")."""
    if low in VERBS:
        return low
    if low in NOUN_ING and not gerunds:
        return None
    stems = []
    if low.endswith("ies"):
        stems.append(low[:-3] + "y")
    if low.endswith("s"):
        stems += [low[:-1], low[:-2]]
    if low.endswith("ed"):
        stems += [low[:-1], low[:-2], low[:-3]]
    if low.endswith("ing"):
        stems += [low[:-3], low[:-3] + "e", low[:-4]]
    return next((stem for stem in stems if stem in VERBS), None)


def _is_content(low: str, after_noun: bool) -> bool:
    """A word that can be part of a phrase; a verb form that is also a noun ("update", "reports") only after
    a noun or a determiner ("firmware update", "energy reports", "the update")."""
    if low in FUNCTION_WORDS or len(low) < 2 or not any(c.isalnum() for c in low):
        return False
    base = verb_base(low)
    if base is not None and not (base in NOUN_VERBS and after_noun and not low.endswith(("ed", "ing"))):
        return False
    if low.endswith("ed") and len(low) >= 4 and low not in KEEP_ED:
        return False
    return not (low.endswith("ly") and len(low) > 4 and low not in KEEP_LY)


def content_runs(text: str) -> list[list[Word]]:
    """Runs of consecutive content words; punctuation, function words and verbs end a run."""
    runs: list[list[Word]] = [[]]
    after_noun = False
    for token in _TOKEN.findall(text):
        low = token.lower()
        if token[0].isalnum() and _is_content(low, after_noun):
            runs[-1].append(Word(token, low))
            after_noun = True
        else:
            after_noun = low in DETERMINERS
            if runs[-1]:
                runs.append([])
    return [run for run in runs if run]


def heading_and_sentences(content: str) -> tuple[list[str], list[str]]:
    """A passage's heading trail ("Title > Heading": a first paragraph of ≤ 15 words not ending in a full
    stop) and its sentences."""
    first, _, rest = content.strip().partition("\n\n")
    if rest and len(first.split()) <= 15 and not first.rstrip().endswith("."):
        headings, body = [h.strip() for h in first.split(" > ") if h.strip()], rest
    else:
        headings, body = [], content
    return headings, [s for line in body.split("\n") for s in split_sentences(" ".join(line.split()))]


def _parts(low: str) -> list[str]:
    return _PARTS.findall(low) or [low]


def english_idf(morphemes: Sequence[Sequence[tuple[str, str]]]) -> dict[str, float]:
    """IDF of the analyzer's words (SL/SN forms, lowercased) across the corpus, smoothed as in `offline`."""
    df: Counter = Counter()
    for doc in morphemes:
        df.update({form.lower() for form, tag in doc if tag in ("SL", "SN")})
    n = len(morphemes)
    return {term: math.log((n + 1) / (count + 0.5)) for term, count in df.items()}


def phrase_pairs(texts: Iterable[str]) -> Counter:
    """Per adjacent content-word pair ("room sensor"), the number of texts it occurs in."""
    df: Counter = Counter()
    for text in texts:
        seen = set()
        for run in content_runs(text):
            seen.update(f"{a.low} {b.low}" for a, b in zip(run, run[1:]))
        df.update(seen)
    return df


def _idf(low: str, idf: dict[str, float]) -> float:
    default = max(idf.values(), default=1.0)
    values = [idf.get(part, default) for part in _parts(low)]
    return sum(values) / len(values)


def english_key_phrases(
    content: str, idf: dict[str, float], pairs_df: Counter | None = None, top: int = 5
) -> list[str]:
    """The passage's `top` key phrases as shown in questions: pairs and single words by TF·IDF, pairs first
    where they score alike, heading phrases and corpus-recurring pairs boosted; none contains another."""
    headings, sentences = heading_and_sentences(content)
    counts: Counter = Counter()
    shown: dict[str, str] = {}
    boost: dict[str, float] = {}
    # the section heading (last of the trail) says most; the title is shared by every passage of a file
    sources = [(h, 2.0 if i == len(headings) - 1 else 1.4) for i, h in enumerate(headings)]
    for text, weight in sources + [(s, 1.0) for s in sentences]:
        for run in content_runs(text):
            for gram in [[w] for w in run] + [[a, b] for a, b in zip(run, run[1:])]:
                low = " ".join(w.low for w in gram)
                if not any(c.isalpha() for c in low) or max(len(w.low) for w in gram) < 3:
                    continue
                counts[low] += 1
                shown.setdefault(low, " ".join(w.shown for w in gram))
                boost[low] = max(boost.get(low, 1.0), weight)

    def score(low: str) -> float:
        words = low.split()
        value = (1 + math.log(counts[low])) * sum(_idf(w, idf) for w in words) / len(words) * boost[low]
        if len(words) == 2:
            value *= 2.0 * (1.3 if pairs_df and pairs_df[low] >= 2 else 1.0)
        return value

    ranked = sorted(counts, key=lambda low: (-score(low), low))
    chosen: list[str] = []
    for low in ranked:
        if not any(set(low.split()) & set(c.split()) for c in chosen):
            chosen.append(low)
        if len(chosen) == top:
            break
    return [shown[low] for low in chosen]


def instruction(text: str) -> tuple[str, list[Word]] | None:
    """(verb, its object: up to two content words) for a sentence that opens with an instruction verb
    ("Pull the battery tab" → pull, [battery, tab]) or a heading that opens with one ("Inviting family members")."""
    first, _, rest = text.partition(" ")
    verb = verb_base(first.lower(), gerunds=True) if first[:1].isupper() else None
    if verb is None or not (first.lower() == verb or first.lower().endswith("ing")):
        return None
    if verb in NOUN_VERBS and first.lower() == verb and rest.split(" ", 1)[0].lower() not in DETERMINERS:
        return None  # "Support is available" is not an instruction; "Turn the ring" is
    runs = content_runs(re.split(r"[,;:.(]| to | and | then | until | so ", rest, maxsplit=1)[0])
    return (verb, runs[0][-2:]) if runs else None


PLURAL = {"what is": "what are", "why is": "why are", "does": "do", "how does": "how do"}


def _fill(template: str, a: str, b: str = "") -> str:
    """Template with "is"/"does" agreeing with a plural {a} ("why are my batteries ...")."""
    last = a.split()[-1].lower()
    if last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3:
        head, sep, tail = template.partition(" {a}")
        template = next((PLURAL[k] + head[len(k) :] for k in PLURAL if head.startswith(k)), head) + sep + tail
    return template.format(a=a, b=b)


def english_questions(
    docid: str,
    content: str,
    phrases: Sequence[str],
    idf: dict[str, float],
    n: int,
    seed: int,
    max_copied_chars: int = 16,
) -> list[str]:
    """n distinct English questions for one passage in rotating forms (see the module docstring); fewer
    when the passage is too short to phrase them. Deterministic for (docid, seed)."""
    rng = keyed_rng(docid, seed)
    text = " ".join(content.split()).lower()
    trigrams = document_word_ngrams(text)
    headings, sentences = heading_and_sentences(content)
    runs = [list({w.low: w for run in content_runs(s) for w in run}.values()) for s in sentences]
    runs = [run for run in runs if len(run) >= 3]
    rng.shuffle(runs)
    instructions = [i for i in map(instruction, headings[-1:] + sentences) if i]
    rng.shuffle(instructions)
    top = list(phrases[:4])
    start = rng.randrange(len(FORMS))
    made: list[str] = []
    for attempt in range(n * 8):  # spare attempts for rejected copies, duplicates and short passages
        if len(made) == n:
            break
        form = FORMS[(start + attempt) % len(FORMS)]
        question = None
        if form == "keywords" and top:
            pool = list(dict.fromkeys(top + [w.shown for w in (runs[attempt % len(runs)] if runs else [])]))
            weights = [sum(_idf(w, idf) for w in p.lower().split()) for p in pool]
            words = _weighted_pick(rng, pool, weights, rng.choice((2, 2, 3)))
            rng.shuffle(words)
            question = (
                " ".join(words)
                if len({w.lower() for w in " ".join(words).split()}) == len(" ".join(words).split())
                else None
            )
        elif form in ("what", "how", "why", "problem") and top:
            templates = {"what": WHAT, "how": HOW, "why": WHY, "problem": PROBLEM}[form]
            question = _fill(rng.choice(templates), rng.choice(top[:3]))
        elif form == "pair" and len(top) >= 2:
            a, b = rng.sample(top, 2)
            question = _fill(rng.choice(PAIR), a, b)
        elif form == "instruction" and instructions:
            verb, obj = instructions[attempt % len(instructions)]
            question = rng.choice(INSTRUCTION_HOW).format(verb=verb, a=" ".join(w.shown for w in obj))
        elif form == "compressed" and runs:
            run = runs[attempt % len(runs)]
            keep = max(2, min(4, round(len(run) * rng.uniform(0.3, 0.6))))
            shown = [w.shown for w in run]
            words = _weighted_pick(rng, shown, [_idf(w.low, idf) for w in run], keep)
            if rng.random() < 0.35:
                i = rng.randrange(len(words) - 1)
                words[i], words[i + 1] = words[i + 1], words[i]
            question = " ".join(words) + rng.choice(TAILS)
        if not question or question in made or len(question.split()) < 2:
            continue
        low = question.lower()
        if shares_word_ngram(low, trigrams) or longest_copied_span(low, text) > max_copied_chars:
            continue
        made.append(question)
    return made
