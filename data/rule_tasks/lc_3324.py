"""LeetCode 3324, Find the Sequence of Strings Appeared on the Screen.

Length = sum of the letter values of the target (a=1 ... z=26) = the number of key presses = the number
of strings in the answer.
"""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask


def string_sequence(target):
  ans = []
  cur = ''
  for ch in target:
    cur += 'a'
    ans.append(cur)
    while cur[-1] != ch:
      cur = cur[:-1] + chr(ord(cur[-1]) + 1)
      ans.append(cur)
  return ans


def sample(rng, length):
  # Split the length into letter values of at most 8 (so targets have several letters), then letters.
  values, left = [], length
  while left > 0:
    v = rng.randint(1, min(8, left))
    values.append(v)
    left -= v
  return {"target": "".join(chr(ord("a") + v - 1) for v in values)}


def question(inst):
  return with_instance(
      "Alice types on a keyboard with two keys: key 1 appends the character 'a' to the string on the "
      "screen, and key 2 changes the last character to its next letter in the alphabet. Starting from an "
      "empty screen, she types target with the minimum number of key presses. Return the list of all "
      "strings that appear on the screen, in order.", inst)


def reference(inst):
  out = []
  target = inst["target"]
  for k, ch in enumerate(target):
    out.extend(target[:k] + c for c in "abcdefghijklmnopqrstuvwxyz"[:ord(ch) - 96])
  return out


TASK = RuleTask(
    id="lc_3324", name="String Sequence", source="leetcode", split="heldout",
    length_meaning="sum of letter values of the target (a=1 ... z=26)", rule=string_sequence,
    sample=sample, question=question, reference=reference)
