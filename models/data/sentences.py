"""Sentences for the built-in speech: generated combinatorially from the project's own word
lists, so that there is far more distinct phonetic content than any fixed list would give.

The word lists cover the English consonant and vowel inventory (plosives, fricatives,
affricates, nasals, liquids, glides; front/back, rounded, diphthongs). ``make_sentence``
draws a template and fills it from a ``numpy`` generator, so a seed fixes the text.
"""

from __future__ import annotations

import numpy as np

SUBJECTS = (
    "the farmer", "a young child", "my neighbour", "the old sailor", "her brother",
    "the quiet teacher", "a tired doctor", "the pilot", "our judge", "the shy baker",
    "a clever fox", "the gray wolf", "his father", "the chef", "a thirsty horse",
    "the choir", "this engineer", "the vicar", "a rough giant", "the Thursday crowd",
    "the pretty queen", "a busy plumber", "the zookeeper", "my uncle", "the yellow cat",
    "the royal guard", "a joyful singer", "the watchman", "a huge whale", "the poet",
)  # fmt: skip

VERBS = (
    "carried", "painted", "measured", "fixed", "pushed", "dragged", "bought", "washed",
    "watched", "judged", "chose", "threw", "caught", "found", "built", "moved", "sold",
    "wrapped", "buried", "polished", "borrowed", "opened", "shook", "folded", "heard",
    "lifted", "touched", "squeezed", "hid", "rescued", "owned", "loved", "weighed",
)  # fmt: skip

OBJECTS = (
    "the heavy box", "a pair of shoes", "six ripe plums", "the broken chair", "a silver coin",
    "the wooden bridge", "a jar of jam", "the leather bag", "the fishing boat", "a fresh loaf",
    "the garden gate", "a thick rope", "the golden ring", "nine sharp knives", "the vase",
    "a bowl of soup", "the cheap watch", "the zebra", "a large map", "the rusty key",
    "a pitch of hay", "the vivid photograph", "an oyster shell", "the measuring jug",
    "the thousand stamps", "a bunch of grapes", "the cloudy mirror", "the purple scarf",
)  # fmt: skip

PLACES = (
    "near the river", "behind the church", "under the bridge", "at the edge of town",
    "in the dusty attic", "on the quiet beach", "beside the oak tree", "inside the shop",
    "through the thick fog", "across the valley", "by the frozen lake", "at the station",
    "along the shore", "in the yard", "above the harbour", "within the castle walls",
)  # fmt: skip

TIMES = (
    "yesterday", "at noon", "every morning", "last winter", "before dawn", "on Sunday",
    "after the storm", "in July", "each evening", "at midnight", "three weeks ago", "today",
)  # fmt: skip

ADVERBS = (
    "slowly", "quickly", "gently", "carefully", "proudly", "eagerly", "loudly", "rarely",
    "easily", "softly", "boldly", "nervously", "happily", "roughly",
)  # fmt: skip

QUESTIONS = (
    "is it true that", "did you know that", "who told you that", "do you think that",
)  # fmt: skip

# Templates: S=subject V=verb O=object P=place T=time A=adverb Q=question word.
TEMPLATES = (
    "S V O.", "S A V O P.", "T, S V O.", "S V O P T.", "Q S V O?",
    "S V O and S V O.", "S V O P.", "A, S V O.", "S V O, T.", "Q S A V O P?",
)  # fmt: skip

_SLOTS = {
    "S": SUBJECTS,
    "V": VERBS,
    "O": OBJECTS,
    "P": PLACES,
    "T": TIMES,
    "A": ADVERBS,
    "Q": QUESTIONS,
}


def _word_count(template: str) -> int:
    pools = {key: sum(len(p.split()) for p in pool) / len(pool) for key, pool in _SLOTS.items()}
    return round(sum(pools.get(ch, 0) for ch in template))


def make_sentence(rng: np.random.Generator, max_words: int = 12) -> str:
    """One sentence from a random template whose expected length is at most max_words."""
    templates = [t for t in TEMPLATES if _word_count(t) <= max_words] or [
        min(TEMPLATES, key=_word_count)
    ]
    template = templates[rng.integers(len(templates))]
    words = []
    for ch in template:
        pool = _SLOTS.get(ch)
        words.append(pool[rng.integers(len(pool))] if pool else ch)
    text = "".join(words)
    return text[0].upper() + text[1:]
