"""LeetCode 541, Reverse String II. Length = string length."""
from meta_rfft.tasks.lc_helpers import LOWER, ask
from meta_rfft.tasks.spec import RuleTask


def reverse_str(s, k):
  res = ""
  for i in range(0, len(s), 2 * k):
    res += s[i:i + k][::-1] + s[i + k:i + 2 * k]
  return res


def sample(rng, length):
  return {"s": "".join(rng.choice(LOWER) for _ in range(length)), "k": rng.randint(1, 3)}


def question(inst):
  return ask(
      "Given a string s and an integer k, reverse the first k characters of every block of 2k characters "
      "counting from the start of s. If fewer than k characters are left, reverse all of them. Return the "
      "resulting string.", inst)


def reference(inst):
  s, k = inst["s"], inst["k"]
  out = []
  for i in range(len(s)):
    block, offset = divmod(i, k)
    if block % 2 == 0:  # mirror the position inside its (possibly short) block
      end = min(block * k + k, len(s))
      out.append(s[end - 1 - offset])
    else:
      out.append(s[i])
  return "".join(out)


TASK = RuleTask(
    id="lc_541", name="Reverse String II", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=reverse_str, sample=sample, question=question, reference=reference)
