"""LeetCode 500, Keyboard Row. Length = number of words."""
from meta_rfft.tasks.lc_helpers import WORDS, ask, random_word
from meta_rfft.tasks.spec import RuleTask

ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def find_words(words):
  res = []
  for word in words:
    letters = set(word.lower())
    if letters <= set("qwertyuiop") or letters <= set("asdfghjkl") or letters <= set("zxcvbnm"):
      res.append(word)
  return res


def sample(rng, length):
  words = [random_word(rng, rng.choice(ROWS), 1, 5) if rng.random() < 0.5 else rng.choice(WORDS)
           for _ in range(length)]
  return {"words": [w.capitalize() if rng.random() < 0.3 else w for w in words]}


def question(inst):
  return ask(
      "Given an array of strings words, return the words that can be typed using letters of only one row of "
      "an American keyboard (rows 'qwertyuiop', 'asdfghjkl' and 'zxcvbnm', in either case), in their "
      "original order.", inst)


def reference(inst):
  row_of = {c: i for i, row in enumerate(ROWS) for c in row}
  return [w for w in inst["words"] if len({row_of[c] for c in w.lower()}) == 1]


TASK = RuleTask(
    id="lc_500", name="Keyboard Row", source="leetcode", split="rf_pretrain",
    length_meaning="number of words", rule=find_words, sample=sample, question=question, reference=reference)
