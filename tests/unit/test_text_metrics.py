import pytest

from streammm.eval.text import (
    character_error_rate,
    character_errors,
    error_rate,
    normalize_characters,
    normalize_words,
    word_error_rate,
    word_errors,
)


def test_normalisation_handles_whisper_punctuation_and_abbreviations():
    assert normalize_words("And Mr. John Dashwood, ill -disposed!") == ["and", "mister", "john", "dashwood", "ill", "disposed"]


@pytest.mark.parametrize(
    "ref, hyp, expected",
    [
        ("a b c d", "a b c d", 0.0),
        ("a b c d", "a x c d", 0.25),
        ("a b c d", "a b c", 0.25),
        ("a b c d", "a b c d e", 0.25),
        ("a b", "", 1.0),
    ],
)
def test_word_error_rate(ref, hyp, expected):
    assert word_error_rate(ref, hyp) == pytest.approx(expected)


def test_character_error_rate():
    assert character_error_rate("abcd", "abed") == pytest.approx(0.25)
    assert character_error_rate("a  b", "a b") == 0.0


def test_character_normalisation_composes_accents_and_collapses_whitespace():
    assert normalize_characters("  Cafe\u0301\n au  lait\t") == "Caf\u00e9 au lait"


def test_character_errors_count_edits_and_reference_characters():
    assert character_errors("Caf\u00e9 au\nlait", "Cafe\u0301  au lait") == (0, 12)  # NFC and whitespace: no error
    assert character_errors("\u201eHi\u201d", '"Hi"') == (2, 4)  # case, punctuation and accents count
    assert character_errors("ab", "abcd") == (2, 2)
    assert character_error_rate("ab", "abcd") == 1.0


def test_word_errors_count_edits_and_reference_words():
    assert word_errors("Mr. Dashwood was ill-disposed", "mister dashwood was ill disposed") == (0, 5)
    assert word_errors("a b c d", "a x c") == (2, 4)


def test_error_rate_against_an_empty_reference():
    assert error_rate(3, 12) == 0.25
    assert error_rate(0, 0) == 0.0
    assert error_rate(2, 0) == 1.0
    assert character_error_rate("", "") == 0.0 and character_error_rate(" ", "x") == 1.0
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "a b") == 1.0
