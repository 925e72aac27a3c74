"""Vocabulary: specials, frequency order with first-appearance tie-break, max_size, min_freq."""

from __future__ import annotations

import pytest

from dlrun.data.vocab import PAD, UNK, Vocab

# counts: the 4, a 3, movie 2, good 2 (movie seen first), bad 1, plot 1 (bad seen first)
DOCS = [["the", "movie", "a", "the"], ["bad", "good", "a", "the"], ["good", "movie", "plot", "the", "a"]]


def test_specials_first_then_descending_frequency_with_stable_ties() -> None:
    vocab = Vocab.build(DOCS)
    assert vocab.itos == [PAD, UNK, "the", "a", "movie", "good", "bad", "plot"]
    assert vocab.stoi["the"] == 2 and vocab.stoi[PAD] == 0 and vocab.stoi[UNK] == 1
    assert len(vocab) == 8  # 6 distinct tokens + 2 specials (the lab: 14804 distinct -> 14806)


def test_max_size_counts_the_specials() -> None:
    assert Vocab.build(DOCS, max_size=4).itos == [PAD, UNK, "the", "a"]
    assert Vocab.build(DOCS, max_size=2).itos == [PAD, UNK]
    assert len(Vocab.build(DOCS, max_size=100)) == 8


def test_min_freq_is_inclusive_and_specials_are_exempt() -> None:
    assert Vocab.build(DOCS, min_freq=2).itos == [PAD, UNK, "the", "a", "movie", "good"]
    assert Vocab.build(DOCS, min_freq=4).itos == [PAD, UNK, "the"]
    assert Vocab.build(DOCS, min_freq=5).itos == [PAD, UNK]
    assert Vocab.build(DOCS, min_freq=0).itos == Vocab.build(DOCS, min_freq=1).itos


def test_encode_maps_unknown_words_to_unk_and_decode_inverts() -> None:
    vocab = Vocab.build(DOCS, max_size=5)
    assert vocab.encode(["the", "movie", "plot", "zebra"]) == [2, 4, 1, 1]
    assert vocab.decode([2, 4, 1]) == ["the", "movie", UNK]


def test_label_vocabulary_without_specials() -> None:
    labels = Vocab(["positive", "negative"], specials=())
    assert labels.encode(["negative", "positive"]) == [1, 0]
    with pytest.raises(KeyError):
        labels.index("neutral")


def test_state_round_trip() -> None:
    vocab = Vocab.build(DOCS, min_freq=2)
    restored = Vocab.from_state(vocab.state_dict())
    assert restored.itos == vocab.itos and restored.stoi == vocab.stoi


@pytest.mark.parametrize(("kwargs", "message"), [({"max_size": 1}, "max_size"), ({"max_size": 0}, "max_size"),
                                                 ({"min_freq": -1}, "min_freq")])
def test_invalid_limits(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Vocab.build(DOCS, **kwargs)
