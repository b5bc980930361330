"""LeetCode 2423, Remove Letter To Equalize Frequency. Length = string length (at least 2)."""
import collections

from meta_rfft.tasks.lc_helpers import LOWER, ask
from meta_rfft.tasks.spec import RuleTask


def equal_frequency(word):
  count = {}
  for c in word:
    count[c] = count.get(c, 0) + 1
  for c, v in count.items():
    count[c] = v - 1
    if len(set([x for x in count.values() if x > 0])) == 1:
      return True
    count[c] = v
  return False


def sample(rng, length):
  if rng.random() < 0.5:
    return {"word": "".join(rng.choice("abc") for _ in range(length))}
  # Equal frequencies plus one extra letter: a "yes" instance (the reference still decides).
  rest = length - 1
  times = rng.choice([d for d in range(1, rest + 1) if rest % d == 0 and rest // d <= 25]) if rest else 1
  letters = rng.sample(LOWER[:25], rest // times) if rest else []
  extra = rng.choice(letters or LOWER) if rng.random() < 0.5 else "z"
  chars = [c for c in letters for _ in range(times)] + [extra]
  rng.shuffle(chars)
  return {"word": "".join(chars)}


def question(inst):
  return ask(
      "You are given a string word of lowercase letters. Remove exactly one letter so that every letter "
      "still present in word occurs the same number of times. Return True if this is possible, otherwise "
      "False.", inst)


def reference(inst):
  w = inst["word"]
  return any(len(set(collections.Counter(w[:i] + w[i + 1:]).values())) == 1 for i in range(len(w)))


TASK = RuleTask(
    id="lc_2423", name="Remove Letter To Equalize Frequency", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=equal_frequency, sample=sample, question=question,
    reference=reference, min_length=2)
