"""Tokenizers: text <-> integer ids, with the vocabulary built from training text only.

Ids 0..3 are reserved for every tokenizer: 0 padding (what `Embedding(mask_zero=True)` skips),
1 the unknown token (anything not seen in training), 2 the start and 3 the end of a sequence
(what an encoder-decoder's decoder begins with and stops at). A tokenizer is plain data
(`get_config()` is JSON), so a model file carries it in its header.

Example:
    >>> tokenizer = CharTokenizer().fit("abba")
    >>> tokenizer.encode("abc").tolist()      # 'c' was not in the training text
    [4, 5, 1]
    >>> tokenizer.decode([4, 5, 1])
    'ab?'
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np

from lstmkit.checks import choice, positive_int
from lstmkit.schema import ConfigError, Fields, Int, ListOf, Nullable, Str, check_round_trip

PAD, UNKNOWN, START, END = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<unk>", "<start>", "<end>")
MAX_VOCABULARY = 2**20  # the most tokens a configuration read from a file may list


class Tokenizer:
    """What the character and word tokenizers share: fit, encode, decode, config."""

    separator = ""  # what `decode` puts between tokens
    unknown_text = "?"  # what `decode` writes for the unknown token

    def __init__(self, tokens: Sequence[str] | None = None, max_tokens: int | None = None) -> None:
        self.max_tokens = positive_int(max_tokens, "max_tokens", optional=True)
        self.tokens: list[str] = list(SPECIAL_TOKENS)
        self._ids: dict[str, int] = {}
        if tokens is not None:
            self._set_vocabulary(tokens)

    def split(self, text: str) -> list[str]:
        raise NotImplementedError

    def _set_vocabulary(self, tokens: Iterable[str]) -> None:
        self.tokens = list(SPECIAL_TOKENS) + [t for t in tokens if t not in SPECIAL_TOKENS]
        self._ids = {token: index for index, token in enumerate(self.tokens)}

    def fit(self, texts: str | Iterable[str]) -> "Tokenizer":
        """Build the vocabulary from `texts`: one string, or an iterable of strings (e.g. the
        chunks of a file, so a text larger than memory can be read). The most frequent
        `max_tokens` tokens are kept (ties in order of first appearance)."""
        counts: Counter[str] = Counter()
        for text in [texts] if isinstance(texts, str) else texts:
            if not isinstance(text, str):
                raise TypeError(f"{type(self).__name__}.fit takes strings; got {type(text).__name__}.")
            counts.update(self.split(text))
        if not counts:
            raise ValueError(f"{type(self).__name__}.fit got no text: pass at least one non-empty string.")
        kept = [token for token, _ in counts.most_common(self.max_tokens)]
        self._set_vocabulary(kept)
        return self

    @property
    def vocab_size(self) -> int:
        """The number of ids, the four reserved ones included (an Embedding's input_dim)."""
        return len(self.tokens)

    def _require_fitted(self) -> None:
        if not self._ids:
            raise ValueError(f"the {type(self).__name__} has no vocabulary yet: call fit(text) first.")

    def encode(self, text: str) -> np.ndarray:
        """Ids (int64) of the tokens of `text`; unseen tokens get UNKNOWN (1)."""
        self._require_fitted()
        return np.array([self._ids.get(token, UNKNOWN) for token in self.split(text)], dtype=np.int64)

    def unknown(self, text: str) -> list[str]:
        """The tokens of `text` outside the vocabulary, in order of appearance."""
        self._require_fitted()
        return list(dict.fromkeys(token for token in self.split(text) if token not in self._ids))

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`, stopping at END; padding and START are left out."""
        pieces = []
        for index in ids:
            index = int(index)
            if index == END:
                break
            if index in (PAD, START):
                continue
            pieces.append(self.unknown_text if index == UNKNOWN else self.tokens[index])
        return self.separator.join(pieces)

    def get_config(self) -> dict[str, Any]:
        return {"class_name": type(self).__name__, "tokens": self.tokens[len(SPECIAL_TOKENS):],
                "max_tokens": self.max_tokens}

    @staticmethod
    def from_config(config: dict[str, Any]) -> "Tokenizer":
        kinds = {"CharTokenizer": CharTokenizer, "WordTokenizer": WordTokenizer}
        if config.get("class_name") not in kinds:
            raise ValueError(f"unknown tokenizer {config.get('class_name')!r}; expected one of {sorted(kinds)}.")
        return kinds[config["class_name"]](tokens=config["tokens"], max_tokens=config.get("max_tokens"))


class CharTokenizer(Tokenizer):
    """One token per character."""

    def split(self, text: str) -> list[str]:
        return list(text)


class WordTokenizer(Tokenizer):
    """Lower-cased words and punctuation marks as tokens; `decode` joins them with spaces.

    Args:
        max_tokens: keep only the most frequent words (None: all); the rest become unknown.
    """

    separator = " "
    unknown_text = "<unk>"
    _pattern = re.compile(r"\w+(?:'\w+)?|[^\w\s]")

    def split(self, text: str) -> list[str]:
        return self._pattern.findall(text.lower())


def check_config(config: Any, key: str) -> Tokenizer:
    """A tokenizer from a configuration read from a file, checked first: known keys and types, at
    most MAX_VOCABULARY distinct tokens, none of them reserved. Raises ConfigError naming the key."""
    schema = Fields({"class_name": Str(choices=("CharTokenizer", "WordTokenizer")),
                     "tokens": ListOf(Str(), MAX_VOCABULARY), "max_tokens": Nullable(Int(1))},
                    required={"class_name", "tokens"})
    config = schema.check(config, key)
    if len(set(config["tokens"])) != len(config["tokens"]):
        raise ConfigError(f"{key}.tokens", f"<list of {len(config['tokens'])} tokens>", "distinct tokens")
    tokenizer = Tokenizer.from_config(config)
    check_round_trip(config, tokenizer.get_config(), key)  # e.g. a reserved token among them
    return tokenizer


def get(tokenizer: str | Tokenizer) -> Tokenizer:
    """"char" / "word" -> a new tokenizer; a Tokenizer passes through."""
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    kinds = {"char": CharTokenizer, "word": WordTokenizer}
    return kinds[choice(tokenizer, "tokenizer", kinds, hint="Or pass a lstmkit tokenizer.")]()


def pad_ids(rows: Sequence[np.ndarray], length: int | None = None) -> np.ndarray:
    """Id rows of different lengths -> (N, T) int64, padded after with PAD (0)."""
    length = max(len(row) for row in rows) if length is None else length
    padded = np.zeros((len(rows), length), dtype=np.int64)
    for index, row in enumerate(rows):
        padded[index, : len(row)] = row[:length]
    return padded
