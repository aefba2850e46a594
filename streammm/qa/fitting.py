"""Evidence-bounded moments: retrieved clips grouped while their relevance stays high, each group's span
fitted to the evidence that made it match.

A clip is a 4 s window on a 2 s grid, so a moment merged from clips has its edges on that grid. Here
each moment is cut to what answered the query instead:

- **speech**: the run of spoken words that best matches the query's words (their own times), widened to
  the phrase around them when only a word or two of it is left out; where the query describes what was said
  (some of its words are not said, and it neither quotes words nor asks for "the word ..."), the whole
  phrase it was said in, between pauses (said_in): what the speaker said there;
- **on-screen text**: the seconds the best-matching line is on screen (OCR spans carry them), within
  the retrieved clips that show it; a line on screen before and after every clip of the moment (a title,
  a menu bar) says nothing about *when*, so it does not bound the moment, nor does a line naming a number
  the query does not ("slide 4 of 5" for "slide 5 of 5") where one naming only the query's is there
  (qa/ocr_fit.py);
- **speech, in other words** (no matching words or lines, but the clips' speech vector is clearly closer
  to the query than their pictures' and on-screen text's): the whole sentences said there;
- **visual** (no matching words or lines): the run of sampled frames that match the query, cut at shot
  changes, or where the frames do not single out a run, the stretch of the clip grid where relevance
  stays near its best (qa/visual_fit.py).

Pure functions of the query text, its vector and the retrieved clips; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from streammm.qa.moments import MAX_MOMENT_S, Fit, Moment
from streammm.qa.ocr_fit import distinct_lines, fit_ocr, screens
from streammm.qa.placement import shown_there
from streammm.qa.terms import REVERSED_COST, STOPWORDS, Terms, ends_sentence, tokens
from streammm.qa.visual_fit import distinct_frames, fit_frames, fit_grid
from streammm.records import Clip, ScoredClip, Word

PAUSE_S = 0.3  # a silence this long (or sentence punctuation) ends a phrase
SENTENCE_PAUSE_S = 1.0  # a silence this long ends a sentence even without punctuation
PAUSE_CROSS = 1.0  # what a matched run pays to go on past such a silence (a query word's weight): _crossing_costs
SNAP_WORDS = 2  # a matched run is widened to its phrase's edge when at most this many words are left out
MISS = 0.6  # cost of a spoken word the query does not have (half for a stopword)
KEEP_RATIO = 0.85  # a neighbouring clip joins a moment while its relevance is at least this share of the best
MIN_MATCH = 0.3  # lexical evidence bounds a moment once it covers this share of the query's words
SPOKEN_LEAD = 0.1  # cosine by which speech must be closer to the query than pictures and text to bound a moment

# Calibration of relevance (a logistic model of "this clip answers the query"), learned on the dev
# queries (docs/eval.md: ../shared/media/queries.json, each query asked of every dev stream; a clip
# is a positive when it overlaps the labelled window of its own video). See `relevance`.
CALIBRATION = (-4.88, 10.02, 3.35)  # intercept, joint-vector cosine, lexical match


# --- speech -------------------------------------------------------------------------------------------------


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
    sums, costs = [0.0], [0.0]
    for value, cost in zip(values, crossing):
        sums.append(sums[-1] + value)
        costs.append(costs[-1] + (0.0 if math.isinf(cost) else cost))
    hits = [i for i, found in enumerate(matched) if found]
    best, best_span = 0.0, None
    for n, first in enumerate(hits):
        said: list[tuple[str, int]] = []
        for last in hits[n:]:
            if any(math.isinf(c) for c in crossing[first + 1 : last + 1]):
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


def spoken_meaning(query_vector: np.ndarray | None, clip: Clip, lead: float = SPOKEN_LEAD) -> bool:
    """Whether what was said in `clip` is what matches the query (in other words than the query's): its
    speech vector is closer to the query than its pictures' and its on-screen text's, by `lead`."""
    speech = _cosine(query_vector, clip.vectors.get("speech"))
    if speech is None or not clip.words:
        return False
    return all(other is None or speech >= other + lead for other in (_cosine(query_vector, clip.vectors.get(m)) for m in ("visual", "ocr")))


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


# --- relevance ----------------------------------------------------------------------------------------------


def lexical_match(terms: Terms, clip: Clip) -> float:
    """The clip's best lexical evidence: its best spoken run's or best line's share of the query's words."""
    speech = fit_speech(terms, clip.words)
    shown = max((score for score, _ in screens(terms, shown_there(terms.place, clip.ocr_lines))), default=0.0)
    return max(speech.match if speech else 0.0, shown)


def relevance(query_vector: np.ndarray | None, clip: Clip, lexical: float) -> float:
    """A calibrated 0-1 relevance of `clip`: a logistic model (CALIBRATION) of the cosine between the query
    and the clip's joint vector and of its lexical match. Comparable across queries, unlike fused ranks."""
    intercept, w_cos, w_lex = CALIBRATION
    cosine = _cosine(query_vector, clip.vectors.get("joint")) or 0.0
    z = intercept + w_cos * cosine + w_lex * lexical
    return 1.0 / (1.0 + math.exp(-z))


def _cosine(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None:
        return None
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / norm if norm > 0 else 0.0


# --- moments ------------------------------------------------------------------------------------------------


def fit_moments(
    query: str,
    found: Sequence[ScoredClip],
    query_vector: np.ndarray | None = None,
    *,
    max_moment_s: float = MAX_MOMENT_S,
    bounds: tuple[float | None, float | None] = (None, None),
) -> list[Moment]:
    """Moments for `query` from the retrieved clips (`found`, best first), in that order (a moment ranks by
    its best clip; moments that fit to the same evidence are one).

    A moment starts at the best clip not yet taken and takes the neighbouring retrieved clips of its
    stream (overlapping or touching) while their relevance stays at least KEEP_RATIO of the first's and
    the group spans at most `max_moment_s`. Its span is then fitted to its evidence (see the module
    docstring); `clips` keeps every clip that supports it, best first, and `relevance` is its best
    clip's. With `bounds` (a searched time range), only evidence inside it counts and spans stay in it.
    """
    lo = -math.inf if bounds[0] is None else bounds[0]
    hi = math.inf if bounds[1] is None else bounds[1]
    terms = Terms.of(query)
    lexical = {item.clip.clip_id: lexical_match(terms, item.clip) for item in found}
    rel = {item.clip.clip_id: relevance(query_vector, item.clip, lexical[item.clip.clip_id]) for item in found}
    order = {item.clip.clip_id: i for i, item in enumerate(found)}
    taken: set[str] = set()
    moments: list[Moment] = []
    for seed in found:
        if seed.clip.clip_id in taken:
            continue
        group = _grow(seed, found, rel, taken, max_moment_s)
        fit, support = _fit(terms, group, found, rel, (lo, hi), query_vector)
        # The group's clips that do not show the fitted evidence are left for moments of their own: where a
        # word is said twice a few seconds apart, each time is a moment ("when is amiable last said?").
        taken.add(seed.clip.clip_id)
        taken.update(item.clip.clip_id for item in group if _shows(item.clip, fit.start_s, fit.end_s))
        clips = tuple(item.clip for item in sorted(support, key=lambda item: order[item.clip.clip_id]))
        # A question about what was said, where nothing was said, is not answered by what was seen or shown.
        # Nor by words said that neither match its words nor mean what it asks (the moment was fitted to what
        # was seen or shown): "does the narrator mention a dog?" of a narration over a squirrel's picture. (In
        # a time range, what was said there answers however it matches: "the first thing the narrator says".)
        unsaid = terms.asks_what_was_said and (not any(c.words for c in clips) or (fit.kind != "speech" and bounds == (None, None)))
        moment = Moment(
            seed.clip.stream_id, fit.start_s, fit.end_s, seed.score, _best_first(clips, fit), relevance=0.0 if unsaid else rel[seed.clip.clip_id],
            evidence=fit.kind, evidence_text=fit.text,
        )
        same = next((i for i, m in enumerate(moments) if _same_evidence(m, moment)), None)
        if same is None:
            moments.append(moment)
        else:
            moments[same] = _absorb(moments[same], moment)
    return moments


def _grow(seed: ScoredClip, found: Sequence[ScoredClip], rel: Mapping[str, float], taken: set[str], max_moment_s: float) -> list[ScoredClip]:
    floor = rel[seed.clip.clip_id] * KEEP_RATIO
    group = [seed]
    start, end = seed.clip.start_s, seed.clip.end_s
    grew = True
    while grew:
        grew = False
        for item in found:
            clip = item.clip
            if (
                clip.clip_id in taken
                or any(g.clip.clip_id == clip.clip_id for g in group)
                or clip.stream_id != seed.clip.stream_id
                or rel[clip.clip_id] < floor
                or clip.start_s > end
                or clip.end_s < start
                or max(end, clip.end_s) - min(start, clip.start_s) > max_moment_s
            ):
                continue
            group.append(item)
            start, end = min(start, clip.start_s), max(end, clip.end_s)
            grew = True
    return group


def _fit(
    terms: Terms, group: Sequence[ScoredClip], found: Sequence[ScoredClip], rel: Mapping[str, float], bounds: tuple[float, float],
    query_vector: np.ndarray | None,
) -> tuple[Fit, list[ScoredClip]]:
    """The group's fitted evidence, and the retrieved clips that support it (the group, and those of its
    chain that the evidence reaches into)."""
    lo, hi = bounds
    clips = [item.clip for item in group]
    span = (max(lo, min(c.start_s for c in clips)), min(hi, max(c.end_s for c in clips)))
    if span[1] <= span[0]:  # a clip that only touches the range
        span = (min(c.start_s for c in clips), max(c.end_s for c in clips))
        lo, hi = -math.inf, math.inf
    # A sentence or a line may go on beyond the group: follow it through the retrieved clips next to it.
    chain = _chain(group, found)
    chained = [item.clip for item in chain]
    words = [w for w in distinct_words(chained) if w.start_s >= lo and w.end_s <= hi]
    # The chain's best run may be another group's (the same words said earlier): then the group's own.
    speech = _near(fit_speech(terms, words), span) or _near(fit_speech(terms, [w for w in distinct_words(clips) if w.start_s >= lo and w.end_s <= hi]), span)
    speech = described(terms, words, speech) if speech is not None else None
    reach = (max(lo, min(c.start_s for c in chained)), min(hi, max(c.end_s for c in chained)))
    lines = shown_there(terms.place, distinct_lines(clips))  # where the query names a place on screen, the lines there
    ocr = fit_ocr(terms, lines, reach, span)
    if ocr is not None and ocr.match < 1.0 and query_vector is not None:
        # The screen has only some of the query's words ("slide" of "which slide shows a butterfly?"): where the
        # pictures single out a run, the matching lines shown with it are the ones asked for ("slide 3 of 5").
        run = fit_frames(query_vector, distinct_frames(chained), reach, around=span)
        if run is not None:
            ocr = fit_ocr(terms, [ln for ln in lines if ln.start_s < run[1] and ln.end_s > run[0]], reach, span) or ocr
    best = max((f for f in (speech, ocr) if f is not None and f.match >= MIN_MATCH), key=lambda f: f.match, default=None)
    if best is None:
        grid = None
        # A question about what was said ("does the narrator mention marriage?") asks of the speech alone: what
        # was said in one of the group's clips answers it where it is closer to it than the rest, by any lead.
        if spoken_meaning(query_vector, clips[0]) or (terms.asks_what_was_said and any(spoken_meaning(query_vector, c, lead=0.0) for c in clips)):
            # What was said means what the query asks, in other words: the sentences said there.
            grid = _grid_span(clips, span, rel)
            said = fit_sentences(words, grid)
            if said is not None and _shows(said, *span):
                return said, [item for item in chain if _shows(item.clip, said.start_s, said.end_s)]
        # A shot may go on beyond the group too: its frames in the chain count. The run must still be the
        # group's: it shows in the group's best clip. The clips that show it support it.
        tags = ", ".join(clips[0].tags[:3])
        run = fit_frames(query_vector, distinct_frames(chained), reach, around=span)
        if run is not None and _shows(clips[0], *run):
            return Fit("visual", *run, tags), [item for item in chain if _shows(item.clip, *run)]
        fit = Fit("visual", *(grid or _grid_span(clips, span, rel)), tags)
        return fit, [item for item in group if _shows(item.clip, fit.start_s, fit.end_s)]
    # The clips that hold the evidence support it; for words said, those that hold the rest of their sentence
    # too (the answer says the whole sentence, not the piece of it the fitted clips hold).
    held = [(best.start_s, best.end_s)]
    if best.kind == "speech":
        sentence = fit_sentences(words, (best.start_s, best.end_s))
        if sentence is not None:
            held.append((sentence.start_s, sentence.end_s))
    support = [item for item in chain if any(_shows(item.clip, *s) for s in held)]
    return best, support or list(group)


def _grid_span(clips: Sequence[Clip], span: tuple[float, float], rel: Mapping[str, float]) -> tuple[float, float]:
    """The clip-grid stretch where relevance stays near its best (fit_grid), within `span`."""
    start, end = fit_grid(clips, span, rel)
    start, end = max(start, span[0]), min(end, span[1])
    return (start, end) if end > start else span


def _shows(clip: Clip | Fit, start_s: float, end_s: float) -> bool:
    """Whether `clip` (or a fitted span) shows part of [start_s, end_s]."""
    return clip.start_s < end_s and clip.end_s > start_s


def _near(fit: Fit | None, span: tuple[float, float]) -> Fit | None:
    """`fit` when it overlaps `span` (evidence found in the chain must still be the group's)."""
    return fit if fit is not None and _shows(fit, *span) else None


def _chain(group: Sequence[ScoredClip], found: Sequence[ScoredClip]) -> list[ScoredClip]:
    """`group` and the retrieved clips of its stream that overlap or touch it, directly or through each other
    (asked of many streams, the clip between two retrieved ones may not be retrieved)."""
    chain = list(group)
    ids = {item.clip.clip_id for item in chain}
    stream = group[0].clip.stream_id
    grew = True
    while grew:
        grew = False
        lo, hi = min(i.clip.start_s for i in chain), max(i.clip.end_s for i in chain)
        for item in found:
            clip = item.clip
            if clip.clip_id not in ids and clip.stream_id == stream and clip.start_s <= hi and clip.end_s >= lo:
                chain.append(item)
                ids.add(clip.clip_id)
                grew = True
    return chain


def _best_first(clips: tuple[Clip, ...], fit: Fit) -> tuple[Clip, ...]:
    """The clips best first, except that the first is one that holds the fitted span's start: its
    thumbnail and id are what a client shows and seeks to."""
    holding = [c for c in clips if c.start_s <= fit.start_s < c.end_s or c.start_s <= fit.start_s <= c.end_s]
    if not holding or holding[0] is clips[0]:
        return clips
    first = holding[0]
    return (first, *(c for c in clips if c is not first))


def _same_evidence(a: Moment, b: Moment) -> bool:
    """Two moments of one stream fitted to (nearly) the same span: one moment."""
    if a.stream_id != b.stream_id:
        return False
    shared = min(a.end_s, b.end_s) - max(a.start_s, b.start_s)
    if shared <= 0:
        return False
    return shared > 0.5 * min(a.end_s - a.start_s, b.end_s - b.start_s)


def _absorb(kept: Moment, other: Moment) -> Moment:
    ids = {k.clip_id for k in kept.clips}
    # Only the other moment's clips that show part of the kept span support it.
    clips = kept.clips + tuple(c for c in other.clips if c.clip_id not in ids and _shows(c, kept.start_s, kept.end_s))
    return Moment(
        kept.stream_id, kept.start_s, kept.end_s, kept.score, clips,
        relevance=max(kept.relevance, other.relevance), evidence=kept.evidence, evidence_text=kept.evidence_text,
    )
