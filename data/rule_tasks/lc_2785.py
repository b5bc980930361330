"""LeetCode 2785, Sort Vowels in a String. Length = string length."""
from meta_rfft.tasks.lc_helpers import LOWER, VOWELS, ask
from meta_rfft.tasks.spec import RuleTask


def sort_vowels(s):
  vowels = sorted([c for c in s if c in "aeiouAEIOU"])
  res = ""
  k = 0
  for c in s:
    if c in "aeiouAEIOU":
      res += vowels[k]
      k += 1
    else:
      res += c
  return res


def sample(rng, length):
  pool = LOWER + LOWER.upper() + VOWELS * 2
  return {"s": "".join(rng.choice(pool) for _ in range(length))}


def question(inst):
  return ask(
      "Given a string s of English letters, permute it so that the consonants keep their places and the "
      "vowels ('a', 'e', 'i', 'o', 'u' in either case) are sorted by ASCII value. Return the new string.",
      inst)


def reference(inst):
  chars = list(inst["s"])
  spots = [i for i, c in enumerate(chars) if c.lower() in "aeiou"]
  for i, v in zip(spots, sorted(chars[i] for i in spots)):
    chars[i] = v
  return "".join(chars)


TASK = RuleTask(
    id="lc_2785", name="Sort Vowels in a String", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=sort_vowels, sample=sample, question=question, reference=reference)
