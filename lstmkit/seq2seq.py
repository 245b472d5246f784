"""Encoder-decoder models: a sequence in, a sequence of another length out.

An encoder (recurrent layers, optionally Bidirectional, stacked) reads the source; the final
states of each of its layers start the matching decoder layer. Tokens go through an Embedding
(ids from a tokenizer fitted on the training sources and targets); numbers go in as they are.
Token targets are framed by START and END: in training the decoder reads the target shifted
right (teacher forcing) and learns to predict each next token, the END included; at inference
it feeds back its own predictions until it writes END. With attention, each decoder step looks
back at every encoder output (Luong's multiplicative "general" score, or Bahdanau's additive
score whose context feeds the next step), and `trace()` returns those weights.

Shapes: B batch, S source steps, T target steps, E embedding, H decoder units, V target vocabulary.

Example (examples/addition_seq2seq.py trains this on 50,000 questions):
    >>> model = Seq2Seq(units=128, attention="luong")
    >>> history = model.fit(questions, answers, epochs=30, batch_size=128, seed=0)   # "535+61" -> "596"
    >>> model.predict(["12+30"], beam_width=3)                                       # a list of strings
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lstmkit import optimizers, sequences, tokenizers
from lstmkit.callbacks import Callback
from lstmkit.checks import choice, fraction, number, positive_int
from lstmkit.layers import GRU, LSTM, MAX_UNITS, Dense, Embedding, Layer, Recurrent, SimpleRNN
from lstmkit.models import MAX_LAYERS
from lstmkit.ops.masking import front_mask, reverse_real_steps
from lstmkit.ops.threads import lstm_flops, thread_limit, threads_for
from lstmkit.saving import ModelFileError, open_model_file, write_model_file
from lstmkit.schema import (Anything, Bool, ConfigError, Fields, Int, ListOf, Nullable, check_round_trip,
                            schema_from_signature)
from lstmkit.tokenizers import END, PAD, START, Tokenizer
from lstmkit.training import FitData, History, begin_callbacks, evaluate_batches, run_fit

CELLS: dict[str, type[Recurrent]] = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}  # Seq2Seq(cell=...)
ATTENTIONS = ("luong", "bahdanau")
States = list[list[torch.Tensor]]  # per layer: [h] or [h, c], each (B, H)


def cell_class(cell: str) -> type[Recurrent]:
    """"lstm", "gru", "simple_rnn" -> lstmkit.layers.LSTM, GRU, SimpleRNN."""
    return CELLS[choice(str(cell).lower(), "cell", CELLS)]


def _initial(states: list[torch.Tensor]) -> Any:
    return tuple(states) if len(states) > 1 else states[0]


class Attention(nn.Module):
    """Weights over the encoder outputs for each decoder query, and the context they give.

    luong ("general"): score(q, k_s) = q · (W_a k_s).  bahdanau: score = v · tanh(W_1 k_s + W_2 q).
    Padded source steps get weight 0.
    """

    def __init__(self, kind: str, units: int, memory_width: int) -> None:
        super().__init__()
        self.kind = kind
        self.key = Dense(units, use_bias=False, input_shape=(memory_width,))  # W_a or W_1
        if kind == "bahdanau":
            self.query = Dense(units, use_bias=False, input_shape=(units,))  # W_2
            self.score = Dense(1, use_bias=False, input_shape=(units,))  # v

    def forward(self, query: torch.Tensor, memory: "Memory") -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, T, H) -> context (B, T, memory width), weights (B, T, S)."""
        if self.kind == "luong":
            scores = query @ memory.keys.transpose(1, 2)
        else:
            scores = self.score(torch.tanh(memory.keys[:, None] + self.query(query)[:, :, None]))[..., 0]
        if memory.mask is not None:
            scores = scores.masked_fill(~memory.mask[:, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ memory.outputs, weights


@dataclass
class Memory:
    """What the decoder reads of the encoder: outputs (B, S, W), attention keys (B, S, H), mask (B, S)."""

    outputs: torch.Tensor
    keys: torch.Tensor | None
    mask: torch.Tensor | None

    def select(self, index: torch.Tensor) -> "Memory":
        return Memory(*(None if t is None else t[index] for t in (self.outputs, self.keys, self.mask)))


@dataclass
class AttentionTrace:
    """One decoded sample: its source and output tokens and the (output, source) attention weights."""

    source_tokens: list[str]
    output_tokens: list[str]
    weights: np.ndarray  # (len(output_tokens), len(source_tokens)), rows sum to 1


class Seq2Seq(nn.Module):
    """An encoder-decoder on lstmkit's recurrent layers, with fit / predict / trace / save.

    Args:
        units: encoder units per direction (the decoder has twice as many when bidirectional,
            since it starts from both directions' states side by side).
        layers: stacked encoder layers, and as many decoder layers (layer i starts layer i).
        cell: "lstm", "gru" or "simple_rnn": the encoder's and the decoder's recurrent layer.
        bidirectional: read the source both ways.
        attention: None, "luong" or "bahdanau".
        embedding_dim: E, the size of the token vectors (token inputs and outputs).
        tokenizer: "char", "word" or a lstmkit tokenizer, for string sources and targets.
    """

    def __init__(self, units: int = 128, layers: int = 1, cell: str = "lstm", bidirectional: bool = False,
                 attention: str | None = None, embedding_dim: int = 32, tokenizer: str | Tokenizer = "char") -> None:
        super().__init__()
        self.units, self.layers = positive_int(units, "units"), positive_int(layers, "layers")
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim")
        if attention is not None:
            choice(attention, "attention", ATTENTIONS, hint="None (the default) uses no attention.")
        self.cell_class = cell_class(cell)
        self.cell, self.bidirectional, self.attention_kind = str(cell).lower(), bool(bidirectional), attention
        self.tokenizer_spec = tokenizer
        self.source_tokenizer: Tokenizer | None = None
        self.target_tokenizer: Tokenizer | None = None
        self.shapes: dict[str, Any] | None = None  # source/target kinds and sizes, once built
        self.sampling_probability = 0.0  # scheduled sampling: chance of feeding back a prediction

    # -- building ------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "layers": self.layers, "cell": self.cell, "bidirectional": self.bidirectional,
                "attention": self.attention_kind, "embedding_dim": self.embedding_dim}

    def _build(self, shapes: dict[str, Any]) -> None:
        """Create every layer: shapes = {"source": vocab size or features, "target": the same,
        "tokens": (source is tokens, target is tokens), "target_length": longest target}."""
        self.shapes = shapes
        source_tokens, target_tokens = shapes["tokens"]
        width = self.embedding_dim if source_tokens else shapes["source"]
        self.source_embedding = Embedding(shapes["source"], self.embedding_dim, input_shape=(None,)) \
            if source_tokens else None
        self.encoder = nn.ModuleList()
        self.backward_encoder = nn.ModuleList()
        for _ in range(self.layers):
            self.encoder.append(self._cell(self.units, width))
            if self.bidirectional:
                self.backward_encoder.append(self._cell(self.units, width, go_backwards=True))
            width = self.units * (2 if self.bidirectional else 1)
        memory_width, decoder_units = width, width
        self.target_embedding = Embedding(shapes["target"], self.embedding_dim, input_shape=(None,)) \
            if target_tokens else None
        width = self.embedding_dim if target_tokens else shapes["target"]
        if self.attention_kind == "bahdanau":
            width += memory_width  # the context is read with each input
        self.decoder = nn.ModuleList()
        for _ in range(self.layers):
            self.decoder.append(self._cell(decoder_units, width))
            width = decoder_units
        self.attention = None
        if self.attention_kind is not None:
            self.attention = Attention(self.attention_kind, decoder_units, memory_width)
            self.combine = Dense(decoder_units, activation="tanh", input_shape=(memory_width + decoder_units,))
        self.output = Dense(shapes["target"], input_shape=(decoder_units,))  # logits, or the values

    def _cell(self, units: int, features: int, go_backwards: bool = False) -> Layer:
        return self.cell_class(units, return_sequences=True, return_state=True, go_backwards=go_backwards,
                               input_shape=(None, features))

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, Layer):
                module.reset_parameters()

    # -- the network ---------------------------------------------------------------------------
    def encode(self, source: torch.Tensor, mask: torch.Tensor | None) -> tuple[Memory, States]:
        """source (B, S) ids or (B, S, F); mask (B, S) bool or None. Returns the memory and the
        final states of each layer (both directions side by side)."""
        x = source if self.source_embedding is None else self.source_embedding(source)
        states: States = []
        for index, layer in enumerate(self.encoder):
            x_next, *final = layer(x, mask=mask)
            if self.bidirectional:
                backward, *back_final = self.backward_encoder[index](x, mask=mask)
                backward = backward.flip(1) if mask is None else reverse_real_steps(backward, mask)
                x_next = torch.cat([x_next, backward], dim=-1)
                final = [torch.cat(pair, dim=-1) for pair in zip(final, back_final)]
            x = x_next
            states.append(final)
        keys = None if self.attention is None else self.attention.key(x)
        return Memory(x, keys, mask), states

    def decode(self, inputs: torch.Tensor, states: States, memory: Memory
               ) -> tuple[torch.Tensor, States, torch.Tensor | None]:
        """Decoder steps on inputs (B, T) ids or (B, T, F) values (T = 1 for Bahdanau attention).
        Returns outputs (B, T, V) (logits, or values), the new states and attention (B, T, S)."""
        x = inputs if self.target_embedding is None else self.target_embedding(inputs)
        weights = None
        if self.attention_kind == "bahdanau":
            context, weights = self.attention(states[-1][0][:, None], memory)  # query: the last h
            x = torch.cat([x, context], dim=-1)
        new_states = []
        for layer, state in zip(self.decoder, states):
            x, *state = layer(x, initial_state=_initial(state))
            new_states.append(state)
        if self.attention_kind == "luong":
            context, weights = self.attention(x, memory)
        if self.attention is not None:
            x = self.combine(torch.cat([context, x], dim=-1))
        return self.output(x), new_states, weights

    def forward(self, source: torch.Tensor, mask: torch.Tensor | None, decoder_inputs: torch.Tensor) -> torch.Tensor:
        """Training outputs (B, T, V) for source (B, S[, F]), its mask and the decoder inputs (B, T[, F]):
        the decoder reads the true previous token, or (scheduled sampling) with probability
        `sampling_probability` its own previous prediction."""
        memory, states = self.encode(source, mask)
        sampling = self.training and self.sampling_probability > 0
        if self.attention_kind != "bahdanau" and not sampling:
            return self.decode(decoder_inputs, states, memory)[0]
        outputs, previous = [], None
        for step in range(decoder_inputs.shape[1]):
            given = decoder_inputs[:, step : step + 1]
            if sampling and previous is not None:
                own = previous.argmax(-1) if self.target_embedding is not None else previous
                chosen = torch.rand(len(given), device=given.device) < self.sampling_probability
                given = torch.where(chosen.view(-1, *[1] * (given.ndim - 1)), own.detach(), given)
            previous, states, _ = self.decode(given, states, memory)
            outputs.append(previous)
        return torch.cat(outputs, dim=1)

    # -- data ----------------------------------------------------------------------------------
    def _sources(self, sources: Any, argument: str = "sources") -> tuple[torch.Tensor, torch.Tensor | None]:
        """Strings -> padded ids (B, S) and their mask; numbers (B, S[, F]) or a list of (S_i, F)
        arrays -> floats (B, S, F) and the mask of real steps (None when none is padded)."""
        _check_not_empty(sources, argument)
        if self.source_tokenizer is not None:
            rows = [self._token_row(self.source_tokenizer, text, argument, index) for index, text in enumerate(sources)]
            ids = torch.from_numpy(tokenizers.pad_ids(rows))
            mask = ids != PAD
            return ids, None if bool(mask.all()) else mask
        lengths = [len(item) for item in sources] if sequences.is_sequence_list(sources) else None
        x, lengths = sequences.padded_inputs(sources, lengths, argument)
        array = np.asarray(x, dtype=np.float32)
        array = array[..., None] if array.ndim == 2 else array
        if array.ndim != 3 or (self.shapes is not None and array.shape[-1] != self.shapes["source"]):
            raise ValueError(f"`{argument}` must be strings, or numbers (samples, steps, features) with the "
                             f"features the model was trained on; got shape {array.shape}.")
        if not np.isfinite(array).all():
            raise ValueError(f"`{argument}` holds NaN or inf values; fill or drop them first.")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if lengths is None or all(n == array.shape[1] for n in lengths):
            return tensor, None
        return tensor, front_mask(torch.as_tensor(lengths), array.shape[1])

    def _targets(self, targets: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(decoder inputs, decoder targets): START + target and target + END as padded ids, or for
        numbers (B, T, F) the targets shifted right behind a zero step, and the targets."""
        _check_not_empty(targets, "targets")
        if self.target_tokenizer is not None:
            rows = [np.concatenate([[START], self._token_row(self.target_tokenizer, text, "targets", i), [END]])
                    for i, text in enumerate(targets)]
            ids = torch.from_numpy(tokenizers.pad_ids(rows))
            return ids[:, :-1], ids[:, 1:]
        array = np.asarray(targets, dtype=np.float32)
        array = array[..., None] if array.ndim == 2 else array
        if array.ndim != 3 or not np.isfinite(array).all():
            raise ValueError(f"numeric `targets` must be finite numbers (samples, steps[, features]); got shape "
                             f"{array.shape}.")
        values = torch.from_numpy(np.ascontiguousarray(array))
        return torch.cat([torch.zeros_like(values[:, :1]), values[:, :-1]], dim=1), values

    @staticmethod
    def _token_row(tokenizer: Tokenizer, text: Any, argument: str, index: int) -> np.ndarray:
        if not isinstance(text, str):
            raise TypeError(f"`{argument}` item {index} is {type(text).__name__}; this model reads strings.")
        row = tokenizer.encode(text)
        if len(row) == 0 and argument != "targets":
            raise ValueError(f"`{argument}` item {index} is empty; every source needs at least one token.")
        return row

    def _fit_shapes(self, sources: Sequence[Any], targets: Sequence[Any]) -> None:
        """Fit the tokenizers on the training data and build the layers for it."""
        _check_not_empty(sources, "sources")
        _check_not_empty(targets, "targets")
        if len(sources) != len(targets):
            raise ValueError(f"`sources` has {len(sources)} samples but `targets` has {len(targets)}; "
                             f"they must match one to one.")
        source_tokens, target_tokens = isinstance(sources[0], str), isinstance(targets[0], str)
        if source_tokens:
            self.source_tokenizer = tokenizers.get(self.tokenizer_spec).fit(sources)
        if target_tokens:
            spec = self.tokenizer_spec
            self.target_tokenizer = tokenizers.get(type(spec)() if isinstance(spec, Tokenizer) else spec).fit(targets)
        source_size = self.source_tokenizer.vocab_size if source_tokens else self._sources(sources)[0].shape[-1]
        decoder_targets = self._targets(targets)[1]
        target_size = self.target_tokenizer.vocab_size if target_tokens else decoder_targets.shape[-1]
        self._build({"source": int(source_size), "target": int(target_size), "tokens": [source_tokens, target_tokens],
                     "target_length": int(decoder_targets.shape[1])})

    # -- training --------------------------------------------------------------------------------
    def fit(self, sources: Sequence[Any], targets: Sequence[Any], epochs: int = 10, batch_size: int = 64,
            optimizer: Any = "adam", validation_split: float = 0.0, scheduled_sampling: float = 0.0,
            verbose: int | str = "auto", seed: int | None = None, callbacks: Sequence[Callback] | None = None
            ) -> History:
        """Train with teacher forcing; returns the History (loss, val_loss).

        Args:
            sources, targets: strings (tokenized by the model's tokenizer, fitted here on the
                first call) or numbers: sources (N, S, F) or a list of (S_i, F) arrays, targets (N, T, F).
            optimizer: a name, an lstmkit optimizer (e.g. Adam(learning_rate=0.01)) or a torch one.
            validation_split: the fraction of samples, from the end, scored after each epoch.
            scheduled_sampling: the chance, in the last epoch, that the decoder reads its own
                previous prediction instead of the true one; it grows linearly from 0 over the
                epochs (Bengio et al., 2015). 0 is plain teacher forcing.
            verbose: 0, 1 (progress bar) or 2 (Keras's line per epoch); seed: repeatable runs.
        """
        epochs, batch_size = positive_int(epochs, "epochs", minimum=0), positive_int(batch_size, "batch_size")
        number(scheduled_sampling, "scheduled_sampling", 0, 1, below_maximum=False)
        fraction(validation_split, "validation_split")
        verbose = 1 if verbose == "auto" else verbose
        if verbose not in (0, 1, 2):
            raise ValueError(f"`verbose` must be 0, 1, 2 or 'auto'; got {verbose!r}.")
        trained = self.shapes is not None
        if not trained:
            self._fit_shapes(sources, targets)
        source, mask = self._sources(sources)
        decoder_inputs, decoder_targets = self._targets(targets)
        if len(source) != len(decoder_targets):
            raise ValueError(f"`sources` has {len(source)} samples but `targets` has {len(decoder_targets)}.")
        mask = torch.ones(source.shape[:2], dtype=torch.bool) if mask is None else mask
        batches = _Batches(self, source, mask, decoder_inputs)
        index = torch.arange(len(source))
        split_at = math.floor(len(index) * (1 - validation_split))
        if validation_split and not 0 < split_at < len(index):
            raise ValueError(f"validation_split={validation_split} of {len(index)} samples leaves an empty part.")
        validation = (index[split_at:], decoder_targets[split_at:]) if validation_split else None
        data = FitData(index[:split_at], decoder_targets[:split_at], batch_size, True, validation)
        callbacks = list(callbacks or []) + ([_SamplingSchedule(self, scheduled_sampling, epochs)]
                                             if scheduled_sampling else [])
        for callback in callbacks:
            callback.set_model(self)
        begin_callbacks(callbacks, data)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
                if not trained:
                    self.reset_parameters()
            torch_optimizer = optimizers.build(optimizers.get(optimizer), list(self.parameters()))
            shuffle_seed = int(torch.randint(2**62, ()))
            with thread_limit(threads_for(3 * self.forward_flops(batch_size, source.shape[1], decoder_inputs.shape[1]))):
                history = run_fit(batches, self.loss, torch_optimizer, data, epochs, verbose, callbacks, shuffle_seed)
        self.sampling_probability = 0.0
        self.eval()
        return history

    def forward_flops(self, batch_size: int, source_steps: int, target_steps: int) -> float:
        """Rough forward cost of one batch (the recurrent layers' products), to choose threads."""
        total = 0.0
        for layers, steps in ((list(self.encoder) + list(self.backward_encoder), source_steps),
                              (self.decoder, target_steps)):
            for layer in layers:
                total += lstm_flops(batch_size, steps, layer.input_shape[-1], layer.units)
        return total

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over real target tokens (padding left out), or the mean squared error."""
        if self.target_embedding is None:
            return F.mse_loss(outputs, targets)
        return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1), ignore_index=PAD)

    def evaluate(self, sources: Sequence[Any], targets: Sequence[Any], batch_size: int = 256) -> float:
        """The training loss (teacher forced) on (sources, targets)."""
        self._require_trained()
        source, mask = self._sources(sources)
        decoder_inputs, decoder_targets = self._targets(targets)
        mask = torch.ones(source.shape[:2], dtype=torch.bool) if mask is None else mask
        batches = _Batches(self, source, mask, decoder_inputs)
        logs = evaluate_batches(batches, self.loss, torch.arange(len(source)), decoder_targets, batch_size, [])
        return logs["loss"]

    # -- inference --------------------------------------------------------------------------------
    def predict(self, sources: Sequence[Any], beam_width: int = 1, max_length: int | None = None,
                batch_size: int = 256) -> list[str] | np.ndarray:
        """Decode each source: strings for token targets (greedy, or beam search with
        `beam_width` > 1), else values (N, T, F). `max_length`: most tokens written (default:
        twice the longest training target)."""
        self._require_trained()
        beam_width = positive_int(beam_width, "beam_width")
        if beam_width > 1 and self.target_tokenizer is None:
            raise ValueError("beam search picks among tokens; numeric targets are decoded greedily (beam_width=1).")
        steps = max_length or (2 * self.shapes["target_length"] if self.target_tokenizer else self.shapes["target_length"])
        source, mask = self._sources(sources)
        self.eval()
        results: list[Any] = []
        flops = self.forward_flops(min(batch_size, len(source)) * beam_width, source.shape[1], steps)
        with torch.no_grad(), thread_limit(threads_for(flops)):
            for start in range(0, len(source), batch_size):
                rows = slice(start, start + batch_size)
                batch_mask = None if mask is None else mask[rows]
                if beam_width > 1:
                    results += [self._beam_search(source[i : i + 1], None if mask is None else mask[i : i + 1],
                                                  beam_width, steps) for i in range(*rows.indices(len(source)))]
                else:
                    results += list(self._greedy(source[rows], batch_mask, steps)[0])
        if self.target_tokenizer is None:
            return np.stack([r.numpy() for r in results])
        return [self.target_tokenizer.decode(row.tolist()) for row in results]

    def _greedy(self, source: torch.Tensor, mask: torch.Tensor | None, steps: int
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Outputs (B, steps[, F]) fed back one step at a time, and the attention weights per step."""
        memory, states = self.encode(source, mask)
        tokens = self.target_embedding is not None
        given = torch.full((len(source), 1), START) if tokens else source.new_zeros(len(source), 1, self.shapes["target"])
        outputs, weights = [], []
        for _ in range(steps):
            output, states, step_weights = self.decode(given, states, memory)
            given = output.argmax(-1) if tokens else output
            outputs.append(given)
            if step_weights is not None:
                weights.append(step_weights[:, 0])
            if tokens and bool((torch.cat(outputs, dim=1) == END).any(dim=1).all()):
                break
        return torch.cat(outputs, dim=1), weights

    def _beam_search(self, source: torch.Tensor, mask: torch.Tensor | None, width: int, steps: int) -> torch.Tensor:
        """The best of `width` hypotheses for one source (1, S): at each step every live hypothesis
        is extended by every token and the `width` best sums of log-probabilities are kept; a
        hypothesis that writes END is finished. Finished ones compete on their mean log-probability
        per token (so short ones are not favoured)."""
        memory, states = self.encode(source, mask)
        sequences_, scores = torch.full((1, 1), START), torch.zeros(1)
        finished: list[tuple[float, torch.Tensor]] = []
        for _ in range(steps):
            live = len(sequences_)
            expand = torch.zeros(live, dtype=torch.long)
            output, states, _ = self.decode(sequences_[:, -1:], states, memory.select(expand))
            candidates = (scores[:, None] + torch.log_softmax(output[:, -1], dim=-1)).reshape(-1)
            best = candidates.topk(min(width, len(candidates))).indices
            origin, token = best // output.shape[-1], best % output.shape[-1]
            keep = []
            for rank, (o, t) in enumerate(zip(origin.tolist(), token.tolist())):
                if t == END:
                    finished.append((float(candidates[best[rank]]) / sequences_.shape[1], sequences_[o, 1:]))
                else:
                    keep.append(rank)
            if len(finished) >= width or not keep:
                break
            keep_t = torch.tensor(keep)
            origin, token = origin[keep_t], token[keep_t]
            sequences_ = torch.cat([sequences_[origin], token[:, None]], dim=1)
            scores = candidates[best[keep_t]]
            states = [[s[origin] for s in layer] for layer in states]
        if not finished:
            finished = [(float(scores[0]) / sequences_.shape[1], sequences_[0, 1:])]
        return max(finished, key=lambda item: item[0])[1]

    def trace(self, source: Any, max_length: int | None = None) -> AttentionTrace:
        """Decode one source greedily and return the attention weights of every output token."""
        if self.attention_kind is None:
            raise ValueError("trace() shows attention weights; build the model with attention='luong' or 'bahdanau'.")
        self._require_trained()
        if self.target_tokenizer is None:
            raise ValueError("trace() labels the weights with tokens; it needs string targets.")
        ids, mask = self._sources([source], "source")
        self.eval()
        with torch.no_grad():
            output, weights = self._greedy(ids, mask, max_length or 2 * self.shapes["target_length"])
        row = output[0].tolist()
        length = row.index(END) + 1 if END in row else len(row)
        target = self.target_tokenizer
        source_tokens = (self.source_tokenizer.split(source) if self.source_tokenizer is not None
                         else [str(step) for step in range(ids.shape[1])])
        output_tokens = [target.tokens[i] for i in row[:length]]
        matrix = torch.stack(weights[:length], dim=1)[0].numpy()
        return AttentionTrace(source_tokens, output_tokens, matrix[:, : len(source_tokens)])

    def _require_trained(self) -> None:
        if self.shapes is None:
            raise ValueError("the model has not been trained: call fit(sources, targets) first.")

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the model (settings, tokenizers, weights) to one lstmkit file (safetensors + JSON)."""
        self._require_trained()
        config = {"kind": "Seq2Seq", "settings": self.get_config(), "shapes": self.shapes,
                  "tokenizers": [None if t is None else t.get_config()
                                 for t in (self.source_tokenizer, self.target_tokenizer)]}
        write_model_file(path, config, self.state_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Seq2Seq":
        """Read a model written by `save`. Never runs code from the file.

        The whole file is checked before any weight is allocated (as `load_model` does): the
        settings, shapes and tokenizers against their schemas and each other, the network built
        on the meta device against the file's tensors, every checksum. Raises ModelFileError.
        """
        file = open_model_file(path)
        if file.config.get("kind") != "Seq2Seq":
            raise ModelFileError(f"{str(path)!r} holds a {file.config.get('kind', 'Sequential')} model, not a Seq2Seq.")
        try:
            config = _file_schema(cls).check(file.config, "config")
            model = cls(**config["settings"])
            check_round_trip(config["settings"], model.get_config(), "config.settings")
            model.source_tokenizer, model.target_tokenizer = (
                None if entry is None else tokenizers.check_config(entry, f"config.tokenizers[{side}]")
                for side, entry in enumerate(config["tokenizers"]))
            _check_shapes(config["shapes"], (model.source_tokenizer, model.target_tokenizer))
            with torch.device("meta"):
                model._build(config["shapes"])
        except Exception as err:  # ConfigError, the constructor's checks: the file is at fault
            raise file.error(str(err)) from None
        file.check_weights({name: tuple(value.shape) for name, value in model.state_dict().items()})
        tensors = file.tensors()
        try:
            model.to(dtype=next(iter(tensors.values())).dtype).to_empty(device="cpu")
            model.load_state_dict(tensors)
        except Exception as err:  # the checks above should leave none: whatever it is, the file is at fault
            raise file.error(f"{type(err).__name__}: {err}") from None
        return model.eval()


def _file_schema(cls: type[Seq2Seq]) -> Fields:
    """What a Seq2Seq file's config holds (`save` writes it); sizes bounded before anything is built."""
    settings = schema_from_signature(cls, skip=("tokenizer",))
    settings.fields.update(units=Int(1, MAX_UNITS), layers=Int(1, MAX_LAYERS), embedding_dim=Int(1, MAX_UNITS))
    shapes = Fields({"source": Int(1, MAX_UNITS), "target": Int(1, MAX_UNITS),
                     "tokens": ListOf(Bool(), 2, min_items=2), "target_length": Int(1, MAX_UNITS)},
                    required={"source", "target", "tokens", "target_length"})
    return Fields({"kind": Anything(), "settings": settings, "shapes": shapes,
                   "tokenizers": ListOf(Nullable(Anything()), 2, min_items=2)},
                  required={"kind", "settings", "shapes", "tokenizers"})


def _check_shapes(shapes: dict[str, Any], sides: tuple[Tokenizer | None, Tokenizer | None]) -> None:
    """Token sides have a tokenizer whose vocabulary is the side's size; number sides have none."""
    for index, (name, tokenizer) in enumerate(zip(("source", "target"), sides)):
        if shapes["tokens"][index] != (tokenizer is not None):
            raise ConfigError(f"config.shapes.tokens[{index}]", shapes["tokens"][index],
                              f"{tokenizer is not None} (the {name} tokenizer is {'given' if tokenizer else 'null'})")
        if tokenizer is not None and shapes[name] != tokenizer.vocab_size:
            raise ConfigError(f"config.shapes.{name}", shapes[name],
                              f"the {name} tokenizer's vocabulary size, {tokenizer.vocab_size}")


class _Batches(nn.Module):
    """The model as the fit loop sees it: called on sample indices, it gathers their sources,
    masks and decoder inputs and returns the teacher-forced outputs."""

    def __init__(self, model: Seq2Seq, source: torch.Tensor, mask: torch.Tensor, decoder_inputs: torch.Tensor):
        super().__init__()
        self.model, self.source, self.mask, self.decoder_inputs = model, source, mask, decoder_inputs

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        mask = self.mask[index]
        longest = int(mask.sum(dim=1).max())  # batches of short sources skip the common padding
        source, mask = self.source[index][:, :longest], mask[:, :longest]
        return self.model(source, None if bool(mask.all()) else mask, self.decoder_inputs[index])


class _SamplingSchedule(Callback):
    """Scheduled sampling: after epoch e (0-based) of E, the feed-back chance is final·(e+1)/(E-1)."""

    def __init__(self, model: Seq2Seq, final: float, epochs: int) -> None:
        super().__init__()
        self.seq2seq, self.final, self.epochs = model, float(final), epochs
        model.sampling_probability = 0.0

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        self.seq2seq.sampling_probability = self.final * min(1.0, (epoch + 1) / max(self.epochs - 1, 1))
        return False


def _check_not_empty(items: Any, argument: str) -> None:
    if isinstance(items, str) or not hasattr(items, "__len__"):
        raise TypeError(f"`{argument}` must be a list of samples (strings or arrays); got {type(items).__name__}.")
    if len(items) == 0:
        raise ValueError(f"`{argument}` is empty; pass at least one sample.")
