"""LeetCode 345, Reverse Vowels of a String. Length = string length."""
from meta_rfft.tasks.lc_helpers import LOWER, VOWELS, ask
from meta_rfft.tasks.spec import RuleTask


def reverse_vowels(s):
  chars = list(s)
  i = 0
  j = len(chars) - 1
  while i < j:
    if chars[i] not in "aeiouAEIOU":
      i += 1
    elif chars[j] not in "aeiouAEIOU":
      j -= 1
    else:
      chars[i], chars[j] = chars[j], chars[i]
      i += 1
      j -= 1
  return "".join(chars)


def sample(rng, length):
  pool = LOWER + LOWER.upper()[:6] + VOWELS
  return {"s": "".join(rng.choice(pool) for _ in range(length))}


def question(inst):
  return ask(
      "Given a string s, reverse only the vowels in it ('a', 'e', 'i', 'o', 'u' in lower or upper case) and "
      "return the resulting string.", inst)


def reference(inst):
  chars = list(inst["s"])
  spots = [i for i, c in enumerate(chars) if c in VOWELS]
  vowels = [chars[i] for i in spots][::-1]
  for i, v in zip(spots, vowels):
    chars[i] = v
  return "".join(chars)


TASK = RuleTask(
    id="lc_345", name="Reverse Vowels of a String", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=reverse_vowels, sample=sample, question=question,
    reference=reference)
