"""Learn to add from examples: "535+61" -> "596", digits in, digits out, of different lengths.

The classic sequence-to-sequence exercise (Keras's addition_rnn): the model never sees numbers,
only characters. An encoder reads the question, a decoder writes the answer one digit at a time
and stops by itself; Luong attention lets each answer digit look back at the question's digits.
The score is exact match on question pairs never seen in training.
"""

import numpy as np

from lstmkit.optimizers import Adam
from lstmkit.seq2seq import Seq2Seq


def make_questions(count: int, digits: int, seed: int) -> tuple[list[str], list[str]]:
    """`count` distinct questions "a+b" and answers "a+b's sum", each operand 1..`digits` digits long
    (the number of digits drawn first, as Keras's example does, so short operands are common)."""
    rng = np.random.default_rng(seed)
    seen: dict[str, str] = {}
    while len(seen) < count:
        a, b = (int(rng.integers(10 ** (n - 1) if n > 1 else 0, 10**n)) for n in rng.integers(1, digits + 1, 2))
        seen.setdefault(f"{a}+{b}", str(a + b))
    return list(seen), list(seen.values())


def main(samples: int = 50_000, epochs: int = 30, digits: int = 3, units: int = 128, batch_size: int = 128,
         learning_rate: float = 0.005, seed: int = 0, verbose: int = 2) -> float:
    """Train on `samples` questions, score on 1,000 unseen ones; returns the exact-match accuracy."""
    questions, answers = make_questions(samples + 1000, digits, seed)
    train_q, train_a, test_q, test_a = questions[:samples], answers[:samples], questions[samples:], answers[samples:]

    model = Seq2Seq(units=units, attention="luong", embedding_dim=16)
    model.fit(train_q, train_a, epochs=epochs, batch_size=batch_size, optimizer=Adam(learning_rate=learning_rate),
              validation_split=0.05, verbose=verbose, seed=seed)

    predicted = model.predict(test_q)
    for question, answer, guess in list(zip(test_q, test_a, predicted))[:3]:
        print(f"{question} -> {guess} ({'right' if guess == answer else 'expected ' + answer})")
    accuracy = float(np.mean([guess == answer for guess, answer in zip(predicted, test_a)]))
    print(f"exact match: {accuracy:.2f}")
    return accuracy


if __name__ == "__main__":
    main()
