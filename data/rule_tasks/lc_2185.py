"""LeetCode 2185, Counting Words With a Given Prefix. Length = number of words."""
from meta_rfft.tasks.lc_helpers import ask, random_word
from meta_rfft.tasks.spec import RuleTask


def prefix_count(words, pref):
  count = 0
  for word in words:
    if word[:len(pref)] == pref:
      count += 1
  return count


def sample(rng, length):
  pref = random_word(rng, "abc", 1, 2)
  words = [(pref if rng.random() < 0.4 else "") + random_word(rng, "abc", 1, 4) for _ in range(length)]
  return {"words": words, "pref": pref}


def question(inst):
  return ask(
      "You are given an array of strings words and a string pref. Return the number of strings in words "
      "that contain pref as a prefix.", inst)


def reference(inst):
  return sum(w.startswith(inst["pref"]) for w in inst["words"])


TASK = RuleTask(
    id="lc_2185", name="Counting Words With a Given Prefix", source="leetcode", split="rf_pretrain",
    length_meaning="number of words", rule=prefix_count, sample=sample, question=question,
    reference=reference)
