"""LeetCode 890, Find and Replace Pattern. Length = number of words."""
from meta_rfft.tasks.lc_helpers import ask, random_word
from meta_rfft.tasks.spec import RuleTask


def find_and_replace_pattern(words, pattern):
  res = []
  for word in words:
    if len(set(word)) == len(set(pattern)) == len(set(zip(word, pattern))):
      res.append(word)
  return res


def sample(rng, length):
  size = rng.randint(2, 4)
  pattern = random_word(rng, "abc", size, size)
  words = []
  for _ in range(length):
    if rng.random() < 0.5:
      letters = rng.sample("abcdefgh", 3)  # a bijective relabelling of the pattern
      words.append("".join(letters["abc".index(c)] for c in pattern))
    else:
      words.append(random_word(rng, "abcd", size, size))
  return {"words": words, "pattern": pattern}


def question(inst):
  return ask(
      "Given a list of strings words and a string pattern, return the words that match pattern, in their "
      "original order. A word matches if there is a one-to-one mapping of letters that turns pattern into "
      "the word.", inst)


def reference(inst):
  def shape(w):
    return [w.index(c) for c in w]
  return [w for w in inst["words"] if shape(w) == shape(inst["pattern"])]


TASK = RuleTask(
    id="lc_890", name="Find and Replace Pattern", source="leetcode", split="rf_pretrain",
    length_meaning="number of words", rule=find_and_replace_pattern, sample=sample, question=question,
    reference=reference)
