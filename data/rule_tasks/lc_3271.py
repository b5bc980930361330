"""LeetCode 3271, Hash Divided String. Length = number of chunks: s has length * k letters, k in 2..4."""
from meta_rfft.tasks.lc_helpers import LOWER, ask
from meta_rfft.tasks.spec import RuleTask


def string_hash(s, k):
  res = ""
  for i in range(0, len(s), k):
    chunk = s[i:i + k]
    total = 0
    for c in chunk:
      total += ord(c) - ord("a")
    res += chr(ord("a") + total % 26)
  return res


def sample(rng, length):
  k = rng.randint(2, 4)
  return {"s": "".join(rng.choice(LOWER) for _ in range(length * k)), "k": k}


def question(inst):
  return ask(
      "You are given a string s of length n and an integer k that divides n. Split s into n / k substrings "
      "of length k. For each substring, add up the letters' indices in the alphabet ('a' = 0, ..., "
      "'z' = 25), take the sum modulo 26 and append the letter with that index to result. Return result.",
      inst)


def reference(inst):
  s, k = inst["s"], inst["k"]
  chunks = [s[i:i + k] for i in range(0, len(s), k)]
  return "".join(LOWER[sum(LOWER.index(c) for c in chunk) % 26] for chunk in chunks)


TASK = RuleTask(
    id="lc_3271", name="Hash Divided String", source="leetcode", split="rf_pretrain",
    length_meaning="string length (length times 2..4)", rule=string_hash, sample=sample, question=question,
    reference=reference)
