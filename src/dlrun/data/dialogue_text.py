"""The offline default text of dataset=char_text: movie-script-like dialogue generated from a small
grammar with a fixed seed (the course's old lab 3 trains on movie dialogue in `NAME:\\nline\\n\\n` form)."""

from __future__ import annotations

import random

NAMES = ["HAN", "LEIA", "LUKE", "BEN", "CHEWIE", "LANDO", "OWEN", "BERU", "YODA", "WEDGE"]
SUBJECTS = ["I", "you", "we", "they", "the kid", "the old man", "your friend", "nobody", "the captain", "everyone"]
VERBS = ["know", "want", "need", "see", "remember", "trust", "believe", "feel", "hear", "like"]
OBJECTS = ["the ship", "that droid", "the plan", "this place", "the truth", "the signal", "the money", "the map",
           "a way out", "the princess", "the old stories", "the reactor", "your father", "the pilot"]
PLACES = ["the hangar", "the base", "the north ridge", "the cantina", "the docking bay", "the desert",
          "the city", "the control room", "the shield gate", "the moon"]
TIMES = ["now", "tonight", "tomorrow", "before dawn", "right away", "in an hour", "after the storm", "soon"]
ADJECTIVES = ["good", "bad", "fast", "dangerous", "quiet", "strange", "broken", "ready", "lost", "late"]
EXCLAMATIONS = ["Hey!", "Listen.", "Look.", "Wait!", "Come on!", "Easy.", "Well,", "Hold on.", "No.", "Yes."]
TEMPLATES = [
    "{S} {V} {O}.",
    "Do {s} {V} {O}?",
    "{E} {S} {V} {O}.",
    "We have to get to {P} {T}.",
    "Is that {A} or {A2}?",
    "It's too {A}. {S} {V} it.",
    "Take {O} to {P}.",
    "{E} I don't {V} {O}.",
    "Why would {s} {V} {O}?",
    "Meet me at {P} {T}.",
    "That was {A}, really {A}.",
    "I've got a {A} feeling about {O}.",
    "How long until {O} is {A}?",
    "{N}, {s} have to {V} {O}.",
]


def _line(rng: random.Random, speaker: str) -> str:
    template = rng.choice(TEMPLATES)
    subject = rng.choice(SUBJECTS)
    fields = {
        "S": subject[0].upper() + subject[1:], "s": subject, "V": rng.choice(VERBS), "O": rng.choice(OBJECTS),
        "P": rng.choice(PLACES), "T": rng.choice(TIMES), "A": rng.choice(ADJECTIVES), "A2": rng.choice(ADJECTIVES),
        "E": rng.choice(EXCLAMATIONS), "N": rng.choice([n.capitalize() for n in NAMES if n != speaker]),
    }
    sentences = [template.format(**fields)]
    if rng.random() < 0.35:
        sentences.append(rng.choice(TEMPLATES).format(**{**fields, "O": rng.choice(OBJECTS), "A": rng.choice(ADJECTIVES)}))
    return " ".join(sentences)


def dialogue_text(num_chars: int = 120_000, seed: int = 0) -> str:
    """About `num_chars` characters of dialogue, `NAME:\\nline\\n\\n` per turn; the same text for the
    same (num_chars, seed) on every machine (Python's random.Random is specified to be reproducible)."""
    rng = random.Random(seed)
    turns: list[str] = []
    size = 0
    pair = rng.sample(NAMES, 2)
    while size < num_chars:
        if rng.random() < 0.1:
            pair = rng.sample(NAMES, 2)
        speaker = pair[len(turns) % 2]
        turn = f"{speaker}:\n{_line(rng, speaker)}\n\n"
        turns.append(turn)
        size += len(turn)
    return "".join(turns)
