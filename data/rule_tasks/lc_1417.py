"""LeetCode 1417, Reformat The String. Length = string length.

Any alternating answer is accepted on LeetCode; here the larger group (letters on a tie) goes first and
each group keeps its order, which makes the answer unique.
"""
import itertools

from meta_rfft.tasks.lc_helpers import LOWER, ask
from meta_rfft.tasks.spec import RuleTask


def reformat(s):
  letters = []
  digits = []
  for c in s:
    if c.isdigit():
      digits.append(c)
    else:
      letters.append(c)
  if abs(len(letters) - len(digits)) > 1:
    return ""
  if len(digits) > len(letters):
    letters, digits = digits, letters
  res = ""
  for i in range(len(digits)):
    res += letters[i] + digits[i]
  if len(letters) > len(digits):
    res += letters[-1]
  return res


def sample(rng, length):
  n_digits = length // 2 + rng.choice([0, length % 2]) if rng.random() < 0.6 else rng.randint(0, length)
  chars = [rng.choice("0123456789") for _ in range(n_digits)]
  chars += [rng.choice(LOWER) for _ in range(length - n_digits)]
  rng.shuffle(chars)
  return {"s": "".join(chars)}


def question(inst):
  return ask(
      "You are given an alphanumeric string s of lowercase letters and digits. Permute it so that no two "
      "adjacent characters are of the same type: start with the more numerous type (letters on a tie) and "
      "keep the letters and digits in their original order. Return the result, or \"\" if impossible.", inst)


def reference(inst):
  letters = [c for c in inst["s"] if c.isalpha()]
  digits = [c for c in inst["s"] if not c.isalpha()]
  first, second = (letters, digits) if len(letters) >= len(digits) else (digits, letters)
  if len(first) - len(second) > 1:
    return ""
  return "".join(a + b for a, b in itertools.zip_longest(first, second, fillvalue=""))


TASK = RuleTask(
    id="lc_1417", name="Reformat The String", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=reformat, sample=sample, question=question, reference=reference)
