"""Padded text batches: collate (tokens, lengths, labels), bucketing, epoch-seeded order, skip."""

from __future__ import annotations

import torch

from dlrun.data.text_batches import TextBatches, TokenSequences

DOCS = [[5, 6, 7], [8], [], [9, 10, 11, 12, 13], [14, 15]]
LABELS = [0, 1, 1, 0, 1]


def _data() -> TokenSequences:
    return TokenSequences.from_lists(DOCS, LABELS)


def test_flat_storage_and_offsets() -> None:
    data = _data()
    assert data.offsets.tolist() == [0, 3, 4, 4, 9, 11]
    assert data.lengths.tolist() == [3, 1, 0, 5, 2]
    assert data.num_tokens == 11 and len(data) == 5


def test_batch_pads_to_the_longest_text_and_returns_lengths() -> None:
    tokens, lengths, labels = _data().batch(torch.tensor([0, 3, 1]))
    assert tokens.tolist() == [[5, 6, 7, 0, 0], [9, 10, 11, 12, 13], [8, 0, 0, 0, 0]]
    assert lengths.tolist() == [3, 5, 1] and labels.tolist() == [0, 0, 1]


def test_empty_text_is_one_pad_step() -> None:
    tokens, lengths, labels = _data().batch(torch.tensor([2]))
    assert tokens.tolist() == [[0]] and lengths.tolist() == [1] and labels.tolist() == [1]
    only_empty = TokenSequences.from_lists([[], []], [0, 1])
    assert only_empty.batch(torch.tensor([0, 1]))[0].tolist() == [[0], [0]]


def test_unshuffled_batches_keep_file_order() -> None:
    batches = list(TextBatches(_data(), batch_size=2))
    assert len(batches) == 3
    assert [b[1].tolist() for b in batches] == [[3, 1], [1, 5], [2]]
    assert TextBatches(_data(), batch_size=2, drop_last=True).__len__() == 2
    assert len(list(TextBatches(_data(), batch_size=2, drop_last=True))) == 2


def test_eval_bucketing_sorts_the_split_by_length() -> None:
    batches = list(TextBatches(_data(), batch_size=2, bucket=1))
    assert [b[1].tolist() for b in batches] == [[1, 1], [2, 3], [5]]  # the empty text counts as length 1


def _random_data(n: int = 400, seed: int = 0) -> TokenSequences:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 200, (n,), generator=g).tolist()
    return TokenSequences.from_lists([[2 + i % 7] * k for i, k in enumerate(lengths)], [i % 2 for i in range(n)])


def _epoch(batches: TextBatches, epoch: int, seed: int = 3) -> list[list[int]]:
    batches.set_epoch(epoch, seed)
    return [index.tolist() for index in batches.batch_indices()]


def test_shuffle_covers_each_text_once_and_depends_only_on_seed_and_epoch() -> None:
    data = _random_data()
    for bucket in (0, 5):
        batches = TextBatches(data, batch_size=16, shuffle=True, bucket=bucket)
        first = _epoch(batches, 0)
        assert sorted(i for b in first for i in b) == list(range(400))
        assert len(first) == len(batches) == 25
        assert _epoch(TextBatches(data, 16, shuffle=True, bucket=bucket), 0) == first
        assert _epoch(batches, 1) != first
        assert _epoch(batches, 0, seed=4) != first


def test_bucketing_sorts_within_chunks_and_cuts_padding() -> None:
    data = _random_data()

    def padding(batches: TextBatches) -> int:
        batches.set_epoch(0, 1)
        return sum(int(tokens.numel() - lengths.sum()) for tokens, lengths, _ in batches)

    naive, bucketed = padding(TextBatches(data, 16, shuffle=True)), padding(TextBatches(data, 16, shuffle=True, bucket=5))
    assert bucketed < naive / 4
    batches = TextBatches(data, 16, shuffle=True, bucket=5)
    batches.set_epoch(0, 1)
    for index in batches.batch_indices():  # each batch is a run of the length-sorted chunk
        assert data.lengths[index].tolist() == sorted(data.lengths[index].tolist())


def test_skip_resumes_mid_epoch_exactly() -> None:
    data = _random_data(100)
    batches = TextBatches(data, 8, shuffle=True, bucket=2)
    batches.set_epoch(2, 9)
    full = [b[2].tolist() + b[1].tolist() for b in batches]
    resumed = TextBatches(data, 8, shuffle=True, bucket=2)
    resumed.set_epoch(2, 9)
    resumed.skip = 5
    assert [b[2].tolist() + b[1].tolist() for b in resumed] == full[5:]
    assert resumed.skip == 0 and len([b for b in resumed]) == len(full)  # skip applies to one pass only
