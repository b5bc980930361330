"""LeetCode 290, Word Pattern. Length = number of words."""
from meta_rfft.tasks.lc_helpers import WORDS, ask
from meta_rfft.tasks.spec import RuleTask


def word_pattern(pattern, s):
  words = s.split(" ")
  if len(words) != len(pattern):
    return False
  p2w = {}
  w2p = {}
  for p, w in zip(pattern, words):
    if p2w.get(p, w) != w or w2p.get(w, p) != p:
      return False
    p2w[p] = w
    w2p[w] = p
  return True


def sample(rng, length):
  pattern = "".join(rng.choice("abcd") for _ in range(length))
  vocab = rng.sample(WORDS, 4)
  words = [vocab["abcd".index(c)] for c in pattern]
  kind = rng.random()
  if kind < 0.3:
    words[rng.randrange(length)] = rng.choice(vocab)
  elif kind < 0.4:
    words.append(rng.choice(vocab))
  return {"pattern": pattern, "s": " ".join(words)}


def question(inst):
  return ask(
      "Given a pattern and a string s of words separated by single spaces, return True if s follows the "
      "same pattern, meaning there is a one-to-one correspondence between the letters of pattern and the "
      "words of s, otherwise False.", inst)


def reference(inst):
  pattern, words = inst["pattern"], inst["s"].split()
  return len(pattern) == len(words) and [pattern.index(c) for c in pattern] == [words.index(w) for w in words]


TASK = RuleTask(
    id="lc_290", name="Word Pattern", source="leetcode", split="rf_pretrain",
    length_meaning="number of words", rule=word_pattern, sample=sample, question=question,
    reference=reference)
