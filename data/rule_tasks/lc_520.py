"""LeetCode 520, Detect Capital. Length = string length."""
from meta_rfft.tasks.lc_helpers import LOWER, ask
from meta_rfft.tasks.spec import RuleTask


def detect_capital_use(word):
  upper = 0
  for c in word:
    if c.isupper():
      upper += 1
  return upper == len(word) or upper == 0 or (upper == 1 and word[0].isupper())


def sample(rng, length):
  word = [rng.choice(LOWER) for _ in range(length)]
  kind = rng.randrange(4)
  if kind == 0:
    word = [c.upper() for c in word]
  elif kind == 1:
    word[0] = word[0].upper()
  elif kind == 2:
    for i in rng.sample(range(length), rng.randint(1, length)):
      word[i] = word[i].upper()
  return {"word": "".join(word)}


def question(inst):
  return ask(
      "The use of capitals in a word is right if all its letters are capitals, or none are, or only the "
      "first letter is a capital. Given a string word, return True if its use of capitals is right, "
      "otherwise False.", inst)


def reference(inst):
  w = inst["word"]
  return w.isupper() or w.islower() or (w[0].isupper() and w[1:].islower())


TASK = RuleTask(
    id="lc_520", name="Detect Capital", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=detect_capital_use, sample=sample, question=question,
    reference=reference)
