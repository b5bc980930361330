"""Big-Bench-Hard Word Sorting: sort words alphabetically. Length = number of words.

The rule is a bucket sort on the first letter (one pass over the words, one over the letters present), so
that its trace grows linearly with the number of words; words within a bucket are sorted in one step.
"""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask

_WORDS = ("apple", "arrow", "bread", "brick", "cloud", "coral", "dance", "delta", "eagle", "ember", "flame",
          "frost", "grape", "gravel", "honey", "house", "igloo", "ivory", "jelly", "jungle", "kite", "knot",
          "lemon", "lotus", "maple", "metal", "noble", "north", "ocean", "olive", "piano", "pearl", "quartz",
          "quiet", "river", "robin", "stone", "sugar", "tiger", "tulip", "umber", "unity", "valley", "velvet",
          "water", "wheat", "xenon", "yacht", "yellow", "zebra", "zinc")


def sort_words(words):
  buckets = {}
  for w in words:
    if w[0] in buckets:
      buckets[w[0]].append(w)
    else:
      buckets[w[0]] = [w]
  res = []
  for c in sorted(buckets):
    res += sorted(buckets[c])
  return res


def sample(rng, length):
  return {"words": [rng.choice(_WORDS) for _ in range(length)]}


def question(inst):
  return with_instance("Sort the words alphabetically and return them as a list.", inst)


def reference(inst):
  return sorted(inst["words"])


TASK = RuleTask(
    id="bbh_word_sorting", name="Word Sorting", source="bbh", split="rf_pretrain",
    length_meaning="number of words", rule=sort_words, sample=sample, question=question, reference=reference)
