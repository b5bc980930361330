"""Small helpers shared by the LeetCode task modules in `data/rule_tasks/lc_*.py`.

Task modules are data; what they share (the question shape, a word list and string helpers for samplers)
lives here so that every LeetCode question has the same shape and the samplers draw from the same words.
"""
from __future__ import annotations

import random

# Same question shape as the other tasks: the statement, then `In short, the input is name = value, ...`.
from meta_rfft.tasks.question_text import with_instance as ask  # noqa: F401  (re-exported for task modules)

# Short common English words: samplers draw sentences and word lists from them so instances read naturally.
WORDS = (
    "apple", "bird", "cat", "dog", "egg", "fish", "goat", "hat", "ice", "jam", "kite", "lamp", "moon", "nest",
    "owl", "pen", "queen", "rain", "sun", "tree", "umbrella", "van", "wolf", "yak", "zebra", "art", "ball",
    "cake", "door", "east", "farm", "game", "hill", "ink", "joke", "king", "leaf", "milk", "note", "open",
    "park", "quiet", "road", "ship", "time", "unit", "vote", "wind", "year", "zoo", "able", "bold", "calm",
    "dark", "easy", "fair", "good", "high", "idle", "just", "kind", "late", "mild", "neat", "odd", "pure",
    "rich", "safe", "tall", "ugly", "vast", "warm", "young", "act", "bake", "cook", "dance", "eat", "fly",
    "grow", "help", "jump", "keep", "learn", "make", "need", "own", "play", "read", "sing", "take", "use",
    "visit", "walk", "yell", "zoom", "a", "an", "i", "it", "on", "of", "to", "we", "up", "us",
)

LOWER = "abcdefghijklmnopqrstuvwxyz"
VOWELS = "aeiouAEIOU"


def random_word(rng: random.Random, alphabet: str, lo: int, hi: int) -> str:
  """A random string of `lo..hi` letters drawn from `alphabet`."""
  return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def split_total(rng: random.Random, total: int, lo: int, hi: int) -> list[int]:
  """Random part sizes in `lo..hi` summing exactly to `total` (the last part may be shorter than `lo`)."""
  sizes = []
  while total > 0:
    size = min(total, rng.randint(lo, hi))
    sizes.append(size)
    total -= size
  return sizes
