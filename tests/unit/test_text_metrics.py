import pytest

from streammm.eval.text import character_error_rate, normalize_words, word_error_rate


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
