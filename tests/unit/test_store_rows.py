"""Words, OCR lines and modality names as both clip stores keep them, including what older releases wrote."""

from __future__ import annotations

import json

import numpy as np

from streammm.records import OcrLine, Word
from streammm.store.rows import (
    names_from_text,
    names_text,
    ocr_lines_from_json,
    ocr_lines_json,
    words_from_json,
    words_json,
)

WORDS = (Word(12.3, 12.71, "hello", 0.93), Word(12.8, 13.1, "there", 0.4999))
LINES = (OcrLine(12.25, 14.0, "EXIT 12", 0.875, 0.5, 0.125), OcrLine(13.0, 16.25, "ÉCHAP ✓", 1.0))


def test_words_and_ocr_lines_round_trip() -> None:
    assert words_from_json(words_json(WORDS)) == WORDS
    assert ocr_lines_from_json(ocr_lines_json(LINES)) == LINES
    assert words_from_json(words_json(())) == ()
    assert ocr_lines_from_json(ocr_lines_json(())) == ()


def test_fields_are_written_by_name() -> None:
    assert json.loads(words_json(WORDS[:1])) == [{"start_s": 12.3, "end_s": 12.71, "text": "hello", "probability": 0.93}]
    assert json.loads(ocr_lines_json(LINES[:1])) == [
        {"start_s": 12.25, "end_s": 14.0, "text": "EXIT 12", "score": 0.875, "x": 0.5, "y": 0.125}
    ]


def test_what_the_embedded_store_wrote_before_reads_back() -> None:
    """Lists of objects with each field by name (the embedded store's format)."""
    words = '[{"start_s": 12.3, "end_s": 12.71, "text": "hello", "probability": 0.93}]'
    lines = '[{"start_s": 12.25, "end_s": 14.0, "text": "EXIT 12", "score": 0.875, "x": 0.5, "y": 0.125}]'
    assert words_from_json(words) == WORDS[:1]
    assert ocr_lines_from_json(lines) == LINES[:1]


def test_what_the_weaviate_store_wrote_before_reads_back() -> None:
    """Lists of the fields in order (the Weaviate store's format), with or without the later OCR position."""
    assert words_from_json('[[12.3, 12.71, "hello", 0.93], [12.8, 13.1, "there", 0.4999]]') == WORDS
    assert ocr_lines_from_json('[[12.25, 14.0, "EXIT 12", 0.875, 0.5, 0.125], [13.0, 16.25, "\\u00c9CHAP \\u2713", 1.0]]') == LINES
    assert ocr_lines_from_json('[[1.0, 2.0, "old", 0.5]]') == (OcrLine(1.0, 2.0, "old", 0.5),)


def test_empty_or_missing_text_is_no_records() -> None:
    for text in (None, "", "[]"):
        assert words_from_json(text) == ()
        assert ocr_lines_from_json(text) == ()


def test_numpy_numbers_are_written_as_plain_numbers() -> None:
    word = Word(np.float32(1.5), np.float64(2.0), "x", np.float32(0.25))  # type: ignore[arg-type]
    assert words_from_json(words_json([word])) == (Word(1.5, 2.0, "x", 0.25),)


def test_modality_names() -> None:
    assert names_text(("visual", "speech")) == "visual,speech"
    assert names_from_text("visual,speech") == ("visual", "speech")
    assert names_from_text(names_text(())) == ()
    assert names_from_text(None) == ()
