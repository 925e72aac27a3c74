"""Word tokenizer: lowercasing, HTML line breaks, regex and whitespace splitting."""

from __future__ import annotations

import pytest

from dlrun.data.tokenizer import Tokenizer


def test_default_lowercases_drops_breaks_and_splits_punctuation() -> None:
    text = "This movie was GREAT!<br /><br />I didn't expect it...<BR>Really."
    assert Tokenizer()(text) == ["this", "movie", "was", "great", "!", "i", "didn't", "expect", "it", ".", ".", ".",
                                 "really", "."]


def test_whitespace_mode_keeps_pretokenized_text() -> None:
    tokenize = Tokenizer(lowercase=False, strip_html=False, pattern=None)
    assert tokenize("yet the act is still charming here") == ["yet", "the", "act", "is", "still", "charming", "here"]
    assert tokenize("it 's a Film , <br />") == ["it", "'s", "a", "Film", ",", "<br", "/>"]


def test_custom_pattern_and_options() -> None:
    assert Tokenizer(pattern=r"[a-z]+")("Don't stop-motion 42") == ["don", "t", "stop", "motion"]
    assert Tokenizer(lowercase=False)("Hi<br/>There") == ["Hi", "There"]
    assert Tokenizer()("") == []


@pytest.mark.parametrize(("pattern", "message"), [("[unclosed", "not a valid regular expression"), (r"(\w+)", "capturing groups")])
def test_bad_pattern_is_a_value_error(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Tokenizer(pattern=pattern)
