"""Moments fitted to words said: the run of spoken words that best matches the query's words (their own
times), widened to the phrase around them when only a word or two of it is left out; where the query
describes what was said, the phrase it was said in (said_in); and the whole sentences said over a span
(fit_sentences), for a query that says what was said in other words.

A sentence ends at its punctuation or at a silence of SENTENCE_PAUSE_S; a phrase at a silence of PAUSE_S
too. A run of matched words never goes on past punctuation that ends a sentence, and past a silence alone
only at a cost (a speaker's pause inside a sentence). Pure functions of the query's terms and the words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from streammm.qa.moments import MAX_MOMENT_S, Fit
from streammm.qa.terms import REVERSED_COST, STOPWORDS, Terms, ends_sentence, tokens
from streammm.records import Clip, Word

PAUSE_S = 0.3  # a silence this long (or sentence punctuation) ends a phrase
SENTENCE_PAUSE_S = 1.0  # a silence this long ends a sentence even without punctuation
PAUSE_CROSS = 1.0  # what a matched run pays to go on past such a silence (a query word's weight): _crossing_costs
SNAP_WORDS = 2  # a matched run is widened to its phrase's edge when at most this many words are left out
MISS = 0.6  # cost of a spoken word the query does not have (half for a stopword)


def distinct_words(clips: Iterable[Clip]) -> list[Word]:
    """The clips' words once each (overlapping clips share words), in time order."""
    seen: dict[tuple[float, str], Word] = {}
    for clip in clips:
        for word in clip.words:
            seen.setdefault((round(word.start_s, 2), word.text.strip()), word)
    return sorted(seen.values(), key=lambda w: w.start_s)


def fit_speech(terms: Terms, words: Sequence[Word]) -> Fit | None:
    """The run of words that best matches the query (within one sentence, the run with the largest sum: a
    matched word gains its term's weight, an unmatched one costs MISS; a run loses REVERSED_COST of it times
    the share of the query's word pairs it says in the other order across clauses: Terms.reversed_share),
    widened to its phrase when at most SNAP_WORDS are left out."""
    if not words or not terms.content:
        return None
    values: list[float] = []
    matched: list[list[str]] = []
    for word in words:
        found = [t for t in (terms.match(tok) for tok in tokens(word.text)) if t is not None]
        matched.append(found)
        if found:
            values.append(max(terms.weights[t] for t in found))
        else:
            kinds = tokens(word.text)
            values.append(-MISS / 2 if kinds and all(k in STOPWORDS for k in kinds) else -MISS)
    tagged = [[(t, clause) for t in found] for found, clause in zip(matched, _clauses(words), strict=True)]  # (term, clause)
    best_span = _best_run(terms, words, values, tagged)
    if best_span is None:
        return None
    first, last = best_span
    said = [pair for found in tagged[first : last + 1] for pair in found]
    match = terms.coverage(t for t, _ in said) * (1.0 - REVERSED_COST * terms.reversed_share(said))
    if match <= 0:
        return None
    first, last = _snap_to_phrase(words, first, last)
    text = " ".join(w.text.strip() for w in words[first : last + 1])
    return Fit("speech", words[first].start_s, words[last].end_s, text, match)


def _best_run(terms: Terms, words: Sequence[Word], values: Sequence[float], matched: Sequence[list[tuple[str, int]]]) -> tuple[int, int] | None:
    """(first, last) of the best run (fit_speech; `matched`: each word's (term, clause)): the maximum-sum run
    within one sentence, unless its words came in another order across clauses; then every run from a
    matched word to a matched word of one sentence is scored with that cost (the earliest of equals). None
    where no run gains anything. A run goes on past a long silence only at a cost (_crossing_costs)."""
    crossing = _crossing_costs(words)
    best, best_span, total, start = 0.0, None, 0.0, 0
    for i, value in enumerate(values):
        total -= crossing[i]
        if total <= 0:  # a run never crosses a sentence's end, nor a silence that costs more than it has
            total, start = 0.0, i
        total += value
        if total > best:
            best, best_span = total, (start, i)
    if best_span is None or not terms.reversed_share([m for found in matched[best_span[0] : best_span[1] + 1] for m in found]):
        return best_span  # no run scores more than the largest sum, at no cost
    sums, costs, sentence = [0.0], [0.0], []  # sentence: each word's sentence, ended by punctuation
    for value, cost in zip(values, crossing):
        sums.append(sums[-1] + value)
        costs.append(costs[-1] + (0.0 if math.isinf(cost) else cost))
        sentence.append((sentence[-1] if sentence else 0) + math.isinf(cost))
    hits = [i for i, found in enumerate(matched) if found]
    best, best_span = 0.0, None
    for n, first in enumerate(hits):
        said: list[tuple[str, int]] = []
        for last in hits[n:]:
            if sentence[last] != sentence[first]:
                break
            said += matched[last]
            gain = sums[last + 1] - sums[first] - (costs[last + 1] - costs[first + 1])
            score = gain * (1.0 - REVERSED_COST * terms.reversed_share(said))
            if score > best + 1e-9:
                best, best_span = score, (first, last)
    return best_span


def _crossing_costs(words: Sequence[Word]) -> list[float]:
    """What a run of matched words pays to go on from words[i - 1] to words[i]: nothing within a sentence,
    everything (inf) past punctuation that ends one, and PAUSE_CROSS past a silence of SENTENCE_PAUSE_S
    with no punctuation: a speaker's pause inside a sentence ("ask not ... what your country can do for
    you") is worth crossing for more of the query's words, a pause between two utterances ("ten of clubs
    ... four queen of clubs") is not for one."""
    costs = [0.0]
    for i in range(1, len(words)):
        if ends_sentence(words[i - 1].text):
            costs.append(math.inf)
        else:
            costs.append(PAUSE_CROSS if words[i].start_s - words[i - 1].end_s >= SENTENCE_PAUSE_S else 0.0)
    return costs


def _clauses(words: Sequence[Word]) -> list[int]:
    """Each word's clause number: a clause ends at a pause of PAUSE_S or a punctuation mark (a comma too)."""
    clauses, clause = [], 0
    for i, word in enumerate(words):
        clauses.append(clause)
        if i + 1 < len(words) and (words[i + 1].start_s - word.end_s >= PAUSE_S or word.text.strip()[-1:] in ".?!;:,"):
            clause += 1
    return clauses


def sentence_ends_after(words: Sequence[Word], i: int) -> bool:
    """Whether a sentence ends with words[i]: a silence of SENTENCE_PAUSE_S after it, or its punctuation."""
    if i + 1 < len(words) and words[i + 1].start_s - words[i].end_s >= SENTENCE_PAUSE_S:
        return True
    return ends_sentence(words[i].text)


def phrase_ends_after(words: Sequence[Word], i: int) -> bool:
    """Whether a phrase ends with words[i]: the last word, a silence of PAUSE_S after it, or its punctuation
    (not a comma)."""
    return i == len(words) - 1 or words[i + 1].start_s - words[i].end_s >= PAUSE_S or words[i].text.strip()[-1:] in ".?!;:"


def _phrase_of(words: Sequence[Word], first: int, last: int) -> tuple[int, int]:
    """(head, tail): the first and last word of the phrase (or phrases) that hold words[first..last]."""
    head, tail = first, last
    while head > 0 and not phrase_ends_after(words, head - 1):
        head -= 1
    while not phrase_ends_after(words, tail):
        tail += 1
    return head, tail


def _snap_to_phrase(words: Sequence[Word], first: int, last: int) -> tuple[int, int]:
    """words[first..last] widened to an edge of their phrase where at most SNAP_WORDS are left out there."""
    head, tail = _phrase_of(words, first, last)
    return (head if first - head <= SNAP_WORDS else first), (tail if tail - last <= SNAP_WORDS else last)


def described(terms: Terms, words: Sequence[Word], fit: Fit) -> Fit:
    """`fit` (a run of `words`) as the query asks for it: where the query describes what was said (some of its
    words are not said, and it neither quotes words nor asks for "the word ..."), the phrase it was said in
    (said_in); else the run."""
    return fit if terms.asks_for_words or fit.match >= 1.0 else said_in(words, fit)


def said_in(words: Sequence[Word], fit: Fit, max_s: float = MAX_MOMENT_S) -> Fit:
    """`fit` widened to the phrase it was said in (between pauses or sentence ends: phrase_ends_after), where
    that lasts at most `max_s`. A query that describes what was said, in words of its own as well as the
    speaker's ("a caller says she is in Texas", "Diane introduces herself"), asks for what the speaker said
    there, not for the words the two share."""
    inside = [i for i, w in enumerate(words) if w.start_s >= fit.start_s and w.end_s <= fit.end_s]
    if not inside:
        return fit
    first, last = _phrase_of(words, inside[0], inside[-1])
    if words[last].end_s - words[first].start_s > max_s:
        return fit
    text = " ".join(w.text.strip() for w in words[first : last + 1])
    return Fit("speech", words[first].start_s, words[last].end_s, text, fit.match)


def fit_sentences(words: Sequence[Word], span: tuple[float, float], max_s: float = MAX_MOMENT_S) -> Fit | None:
    """The whole sentences said over `span`: each one at least half inside it, or else the one that holds
    most of it; None where there are none, or they would last longer than `max_s`."""
    sentences, first = [], 0
    for i in range(len(words)):
        if i == len(words) - 1 or sentence_ends_after(words, i):
            sentences.append((first, i))
            first = i + 1

    def inside(sentence: tuple[int, int]) -> float:
        return min(span[1], words[sentence[1]].end_s) - max(span[0], words[sentence[0]].start_s)

    def length(sentence: tuple[int, int]) -> float:
        return words[sentence[1]].end_s - words[sentence[0]].start_s

    chosen = [s for s in sentences if inside(s) > 0 and inside(s) >= 0.5 * length(s)]
    if not chosen:
        chosen = [max(sentences, key=inside)] if sentences and max(map(inside, sentences)) > 0 else []
    if not chosen:
        return None
    head, tail = chosen[0][0], chosen[-1][1]
    if words[tail].end_s - words[head].start_s > max_s:
        return None
    text = " ".join(w.text.strip() for w in words[head : tail + 1])
    return Fit("speech", words[head].start_s, words[tail].end_s, text)
