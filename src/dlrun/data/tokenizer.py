"""Word tokenizer for the text datasets: lowercase, drop HTML line breaks, split by a regex."""

from __future__ import annotations

import re
from typing import TypedDict

WORDS_AND_PUNCTUATION = r"[\w']+|[^\w\s]"  # words (with inner apostrophes: don't) and single punctuation marks
HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


class TokenizerOptions(TypedDict, total=False):
    """dataset.tokenizer of the text datasets (Tokenizer's arguments), checked key by key by dlrun.config_types."""

    lowercase: bool
    strip_html: bool
    pattern: str | None


class Tokenizer:
    """`tokenizer(text) -> list of tokens`.

    `pattern`: a regex whose matches are the tokens (`re.findall`); None splits on whitespace, which
    keeps pretokenized files such as the lab's SST CSVs exactly as they are.
    """

    def __init__(self, lowercase: bool = True, strip_html: bool = True, pattern: str | None = WORDS_AND_PUNCTUATION) -> None:
        self.lowercase = lowercase
        self.strip_html = strip_html
        self.pattern = pattern
        try:
            self._regex = re.compile(pattern) if pattern is not None else None
        except re.error as err:
            raise ValueError(f"tokenizer.pattern is not a valid regular expression: {err}") from err
        if self._regex is not None and self._regex.groups:
            raise ValueError("tokenizer.pattern must not have capturing groups (write (?:...) instead of (...))")

    def __call__(self, text: str) -> list[str]:
        if self.strip_html:
            text = HTML_BREAK.sub(" ", text)
        if self.lowercase:
            text = text.lower()
        if self._regex is None:
            return text.split()
        return self._regex.findall(text)

    def config(self) -> dict[str, object]:
        """The settings (stored with the vocabulary: the same tokenizer must read eval data)."""
        return {"lowercase": self.lowercase, "strip_html": self.strip_html, "pattern": self.pattern}
