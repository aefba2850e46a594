"""Evidence-bounded moments: retrieved clips grouped while their relevance stays high, each group's span
fitted to the evidence that made it match.

A clip is a 4 s window on a 2 s grid, so a moment merged from clips has its edges on that grid. Here
each moment is cut to what answered the query instead:

- **speech**: the run of spoken words that best matches the query's words (their own times), widened to
  the phrase around them when only a word or two of it is left out; where the query describes what was said
  (some of its words are not said, and it neither quotes words nor asks for "the word ..."), the whole
  phrase it was said in, between pauses: what the speaker said there (qa/speech_fit.py);
- **on-screen text**: the seconds the best-matching line is on screen (OCR spans carry them), within
  the retrieved clips that show it; a line on screen before and after every retrieved clip around the moment
  (a title, a menu bar) says nothing about *when*, so it does not bound the moment, nor does a line naming a number
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
from collections.abc import Mapping, Sequence

import numpy as np

from streammm.qa.moments import MAX_MOMENT_S, Fit, Moment
from streammm.qa.ocr_fit import distinct_lines, fit_ocr, screens
from streammm.qa.placement import shown_there
from streammm.qa.speech_fit import described, distinct_words, fit_sentences, fit_speech
from streammm.qa.terms import Terms, tokens
from streammm.qa.visual_fit import distinct_frames, fit_frames, fit_grid
from streammm.records import Clip, ScoredClip

KEEP_RATIO = 0.85  # a neighbouring clip joins a moment while its relevance is at least this share of the best
MIN_MATCH = 0.3  # lexical evidence bounds a moment once it covers this share of the query's words (or a phrase it quotes)
SPOKEN_LEAD = 0.1  # cosine by which speech must be closer to the query than pictures and text to bound a moment

# Calibration of relevance (a logistic model of "this clip answers the query"), learned on the dev
# queries (docs/eval.md: ../shared/media/queries.json, each query asked of every dev stream; a clip
# is a positive when it overlaps the labelled window of its own video). See `relevance`.
CALIBRATION = (-4.88, 10.02, 3.35)  # intercept, joint-vector cosine, lexical match


# --- speech in other words ----------------------------------------------------------------------------


def spoken_meaning(query_vector: np.ndarray | None, clip: Clip, lead: float = SPOKEN_LEAD) -> bool:
    """Whether what was said in `clip` is what matches the query (in other words than the query's): its
    speech vector is closer to the query than its pictures' and its on-screen text's, by `lead`."""
    speech = _cosine(query_vector, clip.vectors.get("speech"))
    if speech is None or not clip.words:
        return False
    return all(other is None or speech >= other + lead for other in (_cosine(query_vector, clip.vectors.get(m)) for m in ("visual", "ocr")))


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
        unsaid = terms.asks_what_was_said and not _said_there(terms, clips, fit, in_range=bounds != (None, None))
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


def _said_there(terms: Terms, clips: Sequence[Clip], fit: Fit, *, in_range: bool) -> bool:
    """Whether a moment answers a question about what was said: something was said in its clips, and (outside a
    time range the question names, where what was said there answers however it matches: "the first thing
    the narrator says") its evidence is what was said, not what was seen or shown ("does the narrator mention
    a dog?" of a narration over a squirrel's picture), with every name the question writes, all of it ("does
    anyone mention Boston?" is not answered by "I'm originally from Chicago also.", which means something
    like it). A mention alone may be written ("is recycling mentioned?" of a slide that says it), not seen."""
    written = fit.kind == "ocr" and not terms.asks_what_was_spoken  # "is recycling mentioned?": a slide says it
    if not written and not any(c.words for c in clips):
        return False
    if in_range:
        return True
    said = {terms.match(t) for t in tokens(fit.text)}
    return (fit.kind == "speech" or written) and all(name <= said for name in terms.names)


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
    # Lexical evidence bounds the moment where it has enough of the query's words, or all of a phrase it quotes.
    best = max((f for f in (speech, ocr) if f is not None and (f.match >= MIN_MATCH or terms.has_a_quote(f.text))), key=lambda f: f.match, default=None)
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
