"""LeetCode 2810, Faulty Keyboard. Length = string length."""
import collections

from meta_rfft.tasks.lc_helpers import LOWER, ask
from meta_rfft.tasks.spec import RuleTask


def final_string(s):
  res = ""
  for c in s:
    if c == "i":
      res = res[::-1]
    else:
      res += c
  return res


def sample(rng, length):
  others = LOWER.replace("i", "")
  chars = [rng.choice(others)]  # LeetCode: s[0] != 'i'
  chars += ["i" if rng.random() < 0.25 else rng.choice(others) for _ in range(length - 1)]
  return {"s": "".join(chars)}


def question(inst):
  return ask(
      "Your laptop keyboard is faulty: whenever you type the character 'i', it reverses the string written "
      "so far; other characters are typed normally. You type the string s one character at a time. Return "
      "the final string on the screen.", inst)


def reference(inst):
  text, flipped = collections.deque(), False
  for c in inst["s"]:
    if c == "i":
      flipped = not flipped
    elif flipped:
      text.appendleft(c)
    else:
      text.append(c)
  return "".join(reversed(text)) if flipped else "".join(text)


TASK = RuleTask(
    id="lc_2810", name="Faulty Keyboard", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=final_string, sample=sample, question=question, reference=reference)
