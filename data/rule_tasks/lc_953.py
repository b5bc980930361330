"""LeetCode 953, Verifying an Alien Dictionary. Length = number of words."""
from meta_rfft.tasks.lc_helpers import LOWER, ask, random_word
from meta_rfft.tasks.spec import RuleTask


def is_alien_sorted(words, order):
  prev = []
  for word in words:
    key = [order.index(c) for c in word]
    if key < prev:
      return False
    prev = key
  return True


def sample(rng, length):
  order = list(LOWER)
  rng.shuffle(order)
  order = "".join(order)
  alphabet = order[:rng.randint(2, 6)]  # few letters, so that words share prefixes
  words = [random_word(rng, alphabet, 1, 5) for _ in range(length)]
  if rng.random() < 0.5:
    words.sort(key=lambda w: [order.index(c) for c in w])
  return {"words": words, "order": order}


def question(inst):
  return ask(
      "In an alien language the lowercase English letters are used in a different order, given as the "
      "string order. Return True if the given words are sorted lexicographically in the alien language, "
      "and False otherwise.", inst)


def reference(inst):
  table = str.maketrans(inst["order"], LOWER)
  plain = [w.translate(table) for w in inst["words"]]
  return all(a <= b for a, b in zip(plain, plain[1:]))


TASK = RuleTask(
    id="lc_953", name="Verifying an Alien Dictionary", source="leetcode", split="rf_pretrain",
    length_meaning="number of words", rule=is_alien_sorted, sample=sample, question=question,
    reference=reference)
