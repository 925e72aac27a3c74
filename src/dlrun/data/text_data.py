"""Shared machinery of the text classification datasets (IMDB, SST-style CSV): tokenize, build the
vocabulary on train, numericalize, load pretrained vectors and serve padded batches. (About 300
lines: the one text pipeline both datasets share; tokenizer, vocabulary, vectors and the token cache
are modules of their own.)"""

from __future__ import annotations

import sys
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dlrun.config_types import checked_options
from dlrun.data.base import BaseData, pick_split
from dlrun.data.keys import check_batch_sizes
from dlrun.data.raw_inputs import text_inputs, text_lines
from dlrun.data.text_batches import TextBatches, TokenSequences
from dlrun.data.tokenizer import WORDS_AND_PUNCTUATION, Tokenizer, TokenizerOptions
from dlrun.data.vocab import SPECIALS, UNK_INDEX, Vocab, VocabOptions, check_limits
from dlrun.data.word_vectors import EmbeddingsOptions, load_word_vectors, read_vectors, vectors_matrix
from dlrun.errors import DlrunError

SPLITS = ("train", "val", "test")
FREEZE_CHOICES = (True, False, "auto")
STATE_VERSION = 1


@dataclass
class RawSplit:
    """A split as read from disk: texts and their label strings (same length)."""

    texts: list[str]
    labels: list[str]


def read_text(data: bytes) -> str:
    """Decode file contents as UTF-8; bad bytes become U+FFFD instead of an error."""
    return data.decode("utf-8", errors="replace")


class TextClassificationData(BaseData):
    """Base class: subclasses implement `read_splits()` (all file I/O) and set `class_names` when
    the label set is fixed.

    tokenizer: {lowercase, strip_html, pattern} (see dlrun.data.tokenizer). vocab: {max_size,
    min_freq} (max_size counts the specials, -1 = all; min_freq is >=). embeddings: {path, dim,
    freeze}: path of a GloVe/word2vec text file (null: the model draws random embeddings), the
    vector size, and whether the model keeps them frozen (true | false | auto = frozen when a path
    is set; the configs follow model.freeze_embeddings). Frozen pretrained vectors extend the
    vocabulary with the words of val/test that train lacks and the file has, so they get their
    vectors instead of <UNK>; trainable ones keep the train-only vocabulary (the lab). max_len:
    keep the first max_len tokens of each text (null: all). bucket: length bucketing in batches
    per sorted chunk (0: off). seed: the vectors drawn for words without a pretrained vector (and
    the subclass's split).
    """

    def __init__(
        self,
        tokenizer: TokenizerOptions | None = None,
        vocab: VocabOptions | None = None,
        embeddings: EmbeddingsOptions | None = None,
        max_len: int | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        bucket: int = 0,
        seed: int = 7052020,
        class_names: list[str] | None = None,
    ) -> None:
        tok = {"lowercase": True, "strip_html": True, "pattern": WORDS_AND_PUNCTUATION, **checked_options("tokenizer", tokenizer, TokenizerOptions)}
        self.tokenizer = Tokenizer(**tok)
        vocab_cfg = {"max_size": -1, "min_freq": 0, **checked_options("vocab", vocab, VocabOptions)}
        self.max_size, self.min_freq = vocab_cfg["max_size"], vocab_cfg["min_freq"]
        check_limits(self.max_size, self.min_freq, len(SPECIALS))
        emb = {"path": None, "dim": 300, "freeze": "auto", **checked_options("embeddings", embeddings, EmbeddingsOptions)}
        if emb["dim"] < 1:
            raise ValueError(f"embeddings.dim must be >= 1, got {emb['dim']}")
        if emb["freeze"] not in FREEZE_CHOICES:
            raise ValueError(f"embeddings.freeze must be true, false or auto, got {emb['freeze']!r}")
        self.vectors_path: str | None = emb["path"]
        self.embedding_dim = emb["dim"]
        self.extend_vocab = self.vectors_path is not None and emb["freeze"] is not False
        if max_len is not None and max_len < 1:
            raise ValueError(f"max_len must be >= 1 or null, got {max_len}")
        check_batch_sizes(batch_size, eval_batch_size)
        if bucket < 0:
            raise ValueError(f"bucket must be >= 0 (0: off), got {bucket}")
        if class_names is not None and len(set(class_names)) != len(class_names):
            raise ValueError(f"labels must be distinct, got {class_names}")
        self.max_len = max_len
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.bucket = bucket
        self.seed = seed
        self.class_names = list(class_names) if class_names is not None else None
        self.vocab: Vocab | None = None
        self.added_vectors: torch.Tensor | None = None  # GrowingVocabulary: rows for words predict_inputs added
        self.splits: dict[str, TokenSequences] = {}
        self.meta: dict[str, Any] = {"embedding_dim": self.embedding_dim, "pad_index": 0}
        if self.class_names is not None:
            self.meta.update(num_classes=len(self.class_names), class_names=list(self.class_names))
        # Stand-ins that let the pre-flight check build the model before the vocabulary exists.
        self.preflight_meta: dict[str, Any] = {"vocab_size": len(SPECIALS), "pretrained_embeddings": None, "num_classes": 2}

    # -- subclass hook -----------------------------------------------------------------------------
    def read_splits(self) -> dict[str, RawSplit]:
        """Texts and label strings of train, val and test (all of the dataset's file I/O)."""
        raise NotImplementedError

    # -- DataModule ----------------------------------------------------------------------------------
    def setup(self, device: torch.device) -> None:
        from dlrun.data import token_cache

        started = time.perf_counter()
        cache_key = token_cache.cache_key(self)  # None unless the subclass lists its source files
        if cache_key is not None and token_cache.restore(self, cache_key, device):
            print(f"dlrun: {type(self).__name__} token ids, vocabulary {len(self.vocab or [])} from the cache in {time.perf_counter() - started:.1f}s")
            return
        raw = self.read_splits()
        if self.class_names is None:
            self.class_names = self._label_order(raw["train"].labels)
        label_index = {name: i for i, name in enumerate(self.class_names)}
        encoded: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        matrix, found = None, 0
        if self.vocab is None:
            self.vocab, ids, offsets, train_words = self._build_vocab(raw["train"].texts)
            encoded["train"] = (ids, offsets)
            if self.extend_vocab:
                matrix, found = self._extend_with_vectors(raw, train_words, encoded)
        for split in SPLITS:
            labels = [self._label(label_index, name, split, i) for i, name in enumerate(raw[split].labels)]
            ids, offsets = encoded[split] if split in encoded else self._numericalize(raw[split].texts, self.vocab)
            self.splits[split] = TokenSequences(ids, offsets, torch.tensor(labels, dtype=torch.long)).to(device)
        assert self.vocab is not None
        self.meta.update(
            vocab_size=len(self.vocab),
            num_classes=len(self.class_names),
            class_names=list(self.class_names),
            split_sizes={s: len(self.splits[s]) for s in SPLITS},
        )
        if self.vectors_path is not None:
            if matrix is None:
                generator = torch.Generator().manual_seed(self.seed)
                matrix, found = load_word_vectors(self.vectors_path, self.vocab, self.embedding_dim, generator)
            self.meta["pretrained_embeddings"] = matrix
            self.meta["embeddings_found"] = found
            beyond = f" ({self.meta['vocab_from_vectors']:,} of them from val/test, absent from train)" if "vocab_from_vectors" in self.meta else ""
            print(f"dlrun: word vectors for {found:,} of {len(self.vocab):,} vocabulary entries{beyond} from {self.vectors_path}")
        print(f"dlrun: {type(self).__name__} train/val/test {len(self.splits['train']):,}/{len(self.splits['val']):,}/"
              f"{len(self.splits['test']):,} texts, vocabulary {len(self.vocab):,}, loaded in {time.perf_counter() - started:.1f}s")
        if cache_key is not None:
            token_cache.save(self, cache_key)

    def _tokens(self, text: str) -> list[str]:
        tokens = self.tokenizer(text)
        return tokens if self.max_len is None else tokens[: self.max_len]

    def _build_vocab(self, texts: list[str]) -> tuple[Vocab, torch.Tensor, torch.Tensor, dict[str, int]]:
        """Vocabulary of `texts`, their token ids and offsets, and every distinct token seen, in one
        tokenizing pass.

        Each distinct token gets a provisional id in order of first appearance; counting ids with
        bincount then gives the frequencies (insertion order = first appearance, the tie-break),
        and one tensor lookup maps provisional ids to vocabulary ids.
        """
        provisional: dict[str, int] = {}
        flat: array[int] = array("q")
        lengths: array[int] = array("q")
        for text in texts:
            tokens = self._tokens(text)
            flat.extend([provisional.setdefault(t, len(provisional)) for t in tokens])
            lengths.append(len(tokens))
        ids = torch.frombuffer(flat, dtype=torch.long) if len(flat) else torch.zeros(0, dtype=torch.long)
        counts = torch.bincount(ids, minlength=len(provisional)).tolist()
        vocab = Vocab.from_counts(Counter(dict(zip(provisional, counts))), self.max_size, self.min_freq)
        remap = torch.tensor([vocab.index(t) for t in provisional], dtype=torch.long)
        return vocab, remap[ids] if len(ids) else ids, _offsets(lengths), provisional

    def _extend_with_vectors(self, raw: dict[str, RawSplit], train_words: dict[str, int],
                             encoded: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, int]:
        """Append to the vocabulary the words of val and test that train lacks and the vectors file
        has (first appearance order), encode val and test with it into `encoded`, and return the
        embedding matrix and how many entries the file covered: one pass over the file for both.

        Words outside the vocabulary get provisional ids after it while val/test are tokenized once;
        one tensor lookup then maps them to their new index, or to <UNK> when the file lacks them.
        Train words that max_size/min_freq dropped stay <UNK>, as in train.
        """
        assert self.vocab is not None and self.vectors_path is not None
        vocab, stoi, unk = self.vocab, self.vocab.stoi, UNK_INDEX
        new: dict[str, int] = {}  # word outside train -> provisional id len(vocab) + first-appearance rank
        for split in ("val", "test"):
            flat: array[int] = array("q")
            lengths: array[int] = array("q")
            for text in raw[split].texts:
                tokens = self._tokens(text)
                flat.extend([stoi.get(t, unk) if t in stoi or t in train_words else new.setdefault(t, len(stoi) + len(new))
                             for t in tokens])
                lengths.append(len(tokens))
            encoded[split] = (torch.frombuffer(flat, dtype=torch.long).clone() if len(flat) else torch.zeros(0, dtype=torch.long), _offsets(lengths))
        words, vectors = read_vectors(self.vectors_path, [*vocab.itos, *new], self.embedding_dim)
        in_file = set(words)
        extra = [w for w in new if w in in_file]
        self.vocab = Vocab([*vocab.itos, *extra], vocab.specials)
        remap = torch.tensor([*range(len(vocab)), *(self.vocab.stoi.get(w, unk) for w in new)], dtype=torch.long)
        for split in ("val", "test"):
            ids, offsets = encoded[split]
            encoded[split] = (remap[ids] if len(ids) else ids, offsets)
        generator = torch.Generator().manual_seed(self.seed)
        self.meta["vocab_from_vectors"] = len(extra)
        return vectors_matrix(self.vocab, words, vectors, generator), len(words)

    def _numericalize(self, texts: list[str], vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids of `texts` (unknown words -> <UNK>) as one flat tensor plus offsets."""
        flat: array[int] = array("q")
        lengths: array[int] = array("q")
        for text in texts:
            ids = vocab.encode(self._tokens(text))
            flat.extend(ids)
            lengths.append(len(ids))
        ids_tensor = torch.frombuffer(flat, dtype=torch.long).clone() if len(flat) else torch.zeros(0, dtype=torch.long)
        return ids_tensor, _offsets(lengths)

    def sequences(self, split: str) -> TokenSequences:
        """The numericalized texts of `split` (TextSplits)."""
        return pick_split(self.splits, split, type(self).__name__)

    def loader(self, split: str, train: bool = False) -> TextBatches:
        size = self.batch_size if train else self.eval_batch_size
        return TextBatches(self.sequences(split), size, shuffle=train, bucket=self.bucket)

    def state_dict(self) -> dict[str, Any]:
        """The vocabulary and label order: evaluation and resumed runs must number words the same."""
        if self.vocab is None or self.class_names is None:
            return {}
        return {"version": STATE_VERSION, "vocab": self.vocab.state_dict(), "class_names": list(self.class_names),
                "tokenizer": self.tokenizer.config(), "max_len": self.max_len}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Reuse a checkpoint's vocabulary and labels instead of building them in `setup`."""
        if not state:
            return
        if state.get("version") != STATE_VERSION:
            raise DlrunError(f"checkpoint data state has version {state.get('version')}; this dlrun reads {STATE_VERSION}")
        if state["tokenizer"] != self.tokenizer.config():
            raise DlrunError(f"dataset.tokenizer differs from the checkpoint's ({state['tokenizer']}); use the same settings")
        if self.class_names is not None and list(state["class_names"]) != self.class_names:
            raise DlrunError(f"dataset labels {self.class_names} differ from the checkpoint's {list(state['class_names'])}")
        self.vocab = Vocab.from_state(state["vocab"])
        self.class_names = list(state["class_names"])
        self.meta.update(vocab_size=len(self.vocab), num_classes=len(self.class_names), class_names=list(self.class_names))

    def predict_inputs(self, source: Path) -> tuple[list[str], tuple[torch.Tensor, ...]]:
        """(texts, (tokens, lengths)) for a text file (one input per line) or a CSV, numbered with the
        checkpoint's vocabulary (RawInputs); with frozen pretrained vectors the input words that it
        lacks and the vectors file has are added first (see `_add_words_from_vectors`)."""
        if self.vocab is None:
            raise DlrunError("the checkpoint holds no vocabulary; predict needs a checkpoint written by dlrun train")
        if self.extend_vocab:
            self._add_words_from_vectors(text_lines(source))
        vocab = self.vocab
        return text_inputs(source, lambda text: vocab.encode(self._tokens(text)))

    def _add_words_from_vectors(self, texts: list[str]) -> None:
        """Append to the vocabulary the words of `texts` it lacks that the vectors file has (first
        appearance order), as setup does for val/test, and keep their file vectors in `added_vectors`
        (GrowingVocabulary: the rows the model's frozen embedding gains). A train word that
        max_size/min_freq dropped is not known as such here, so it gets its file vector too. Without
        the file (moved since training), such words stay <UNK> and a note says so."""
        assert self.vocab is not None and self.vectors_path is not None
        new = list(dict.fromkeys(t for text in texts for t in self._tokens(text) if t not in self.vocab.stoi))
        if not new:
            return
        if not Path(self.vectors_path).is_file():
            print(f"dlrun: note: the vectors file {self.vectors_path} is gone, so {len(new):,} input words outside the "
                  "vocabulary read as <UNK>", file=sys.stderr)
            return
        words, vectors = read_vectors(self.vectors_path, new, self.embedding_dim)
        row = {word: i for i, word in enumerate(words)}
        extra = [w for w in new if w in row]
        if not extra:
            return
        self.vocab = Vocab([*self.vocab.itos, *extra], self.vocab.specials)
        rows = torch.from_numpy(vectors[[row[w] for w in extra]])
        self.added_vectors = rows if self.added_vectors is None else torch.cat([self.added_vectors, rows])
        self.meta["vocab_size"] = len(self.vocab)

    # -- helpers -------------------------------------------------------------------------------------
    def decode(self, split: str, index: int) -> list[str]:
        """The (truncated) tokens of text `index` of `split` as the model sees them (unknown words as <UNK>)."""
        assert self.vocab is not None
        data = self.sequences(split)
        start, end = int(data.offsets[index]), int(data.offsets[index + 1])
        return self.vocab.decode(data.tokens[start:end].tolist())

    @staticmethod
    def _label_order(labels: list[str]) -> list[str]:
        """Label names by descending frequency in train, ties by first appearance (the lab's label vocab)."""
        counts = Counter(labels)
        names = sorted(counts, key=lambda name: -counts[name])
        if len(names) < 2:
            raise DlrunError(f"the training split has {len(names)} distinct label(s); classification needs at least 2")
        return names

    def _label(self, index: dict[str, int], name: str, split: str, position: int) -> int:
        if name not in index:
            raise DlrunError(f"{split} text {position}: unknown label '{name}' (valid: {', '.join(index)})")
        return index[name]


def _offsets(lengths: array) -> torch.Tensor:  # type: ignore[type-arg]
    """[0, l0, l0 + l1, ...]: where each text starts in the flat token tensor (plus the end)."""
    offsets = torch.zeros(len(lengths) + 1, dtype=torch.long)
    if len(lengths):
        torch.cumsum(torch.frombuffer(lengths, dtype=torch.long), 0, out=offsets[1:])
    return offsets
