"""LeetCode 1704, Determine if String Halves Are Alike. Length = half the string length."""
from meta_rfft.tasks.lc_helpers import LOWER, VOWELS, ask
from meta_rfft.tasks.spec import RuleTask


def halves_are_alike(s):
  half = len(s) // 2
  count = 0
  for i in range(half):
    if s[i] in "aeiouAEIOU":
      count += 1
    if s[half + i] in "aeiouAEIOU":
      count -= 1
  return count == 0


def _half(rng, length, vowels):
  consonants = [c for c in LOWER + LOWER.upper() if c not in VOWELS]
  chars = [rng.choice(VOWELS) if i < vowels else rng.choice(consonants) for i in range(length)]
  rng.shuffle(chars)
  return "".join(chars)


def sample(rng, length):
  first = rng.randint(0, length)
  # Half of the instances get equal vowel counts on purpose, so both answers are common.
  second = first if rng.random() < 0.5 else rng.randint(0, length)
  return {"s": _half(rng, length, first) + _half(rng, length, second)}


def question(inst):
  return ask(
      "You are given a string s of even length. Split it into two halves a and b of equal length. They are "
      "alike if they contain the same number of vowels ('a', 'e', 'i', 'o', 'u', in either case). Return "
      "True if a and b are alike, otherwise False.", inst)


def reference(inst):
  s = inst["s"]
  n = len(s) // 2
  return sum(c.lower() in "aeiou" for c in s[:n]) == sum(c.lower() in "aeiou" for c in s[n:])


TASK = RuleTask(
    id="lc_1704", name="Determine if String Halves Are Alike", source="leetcode", split="rf_pretrain",
    length_meaning="half the string length", rule=halves_are_alike, sample=sample, question=question,
    reference=reference)
