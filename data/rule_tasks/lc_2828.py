"""LeetCode 2828, Check if a String Is an Acronym of Words. Length = number of words."""
from meta_rfft.tasks.lc_helpers import LOWER, WORDS, ask
from meta_rfft.tasks.spec import RuleTask


def is_acronym(words, s):
  if len(words) != len(s):
    return False
  for word, c in zip(words, s):
    if word[0] != c:
      return False
  return True


def sample(rng, length):
  words = [rng.choice(WORDS) for _ in range(length)]
  s = [w[0] for w in words]
  kind = rng.random()
  if kind < 0.3:
    s[rng.randrange(length)] = rng.choice(LOWER)  # often (not always) a wrong letter
  elif kind < 0.4:
    s.insert(rng.randrange(length + 1), rng.choice(LOWER))
  return {"words": words, "s": "".join(s)}


def question(inst):
  return ask(
      "Given an array of strings words and a string s, determine whether s is an acronym of words, that is, "
      "s is formed by concatenating the first character of each word in order. Return True or False.", inst)


def reference(inst):
  return "".join(w[0] for w in inst["words"]) == inst["s"]


TASK = RuleTask(
    id="lc_2828", name="Check if a String Is an Acronym of Words", source="leetcode", split="rf_pretrain",
    length_meaning="number of words", rule=is_acronym, sample=sample, question=question, reference=reference)
