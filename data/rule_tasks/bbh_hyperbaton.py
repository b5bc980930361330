"""Big-Bench-Hard Hyperbaton: which of two adjective sequences follows the English adjective order.

Order: opinion, size, age, shape, color, origin, material, purpose. Length = number of adjectives.
"""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask

CATEGORIES = (
    ("opinion", ("lovely", "ugly")), ("size", ("big", "small")), ("age", ("old", "new")),
    ("shape", ("round", "square")), ("color", ("red", "blue")), ("origin", ("french", "chinese")),
    ("material", ("wooden", "glass")), ("purpose", ("hiking", "eating")),
)


def correct_option(a, b):
  rank = {'lovely': 1, 'ugly': 1, 'big': 2, 'small': 2, 'old': 3, 'new': 3, 'round': 4, 'square': 4, 'red': 5, 'blue': 5, 'french': 6, 'chinese': 6, 'wooden': 7, 'glass': 7, 'hiking': 8, 'eating': 8}
  prev = 0
  for w in a:
    if rank[w] < prev:
      return 'B'
    prev = rank[w]
  return 'A'


def _rank(word):
  return next(i for i, (_, words) in enumerate(CATEGORIES) if word in words)


def sample(rng, length):
  # Up to 8 adjectives come from distinct categories; longer lists repeat categories. The wrong option
  # swaps two adjectives of different categories, so exactly one option is in order.
  if length <= len(CATEGORIES):
    cats = sorted(rng.sample(range(len(CATEGORIES)), length))
  else:
    cats = sorted(list(range(len(CATEGORIES))) + [rng.randrange(len(CATEGORIES))
                                                  for _ in range(length - len(CATEGORIES))])
  good = [rng.choice(CATEGORIES[c][1]) for c in cats]
  bad = list(good)
  i, j = sorted(rng.sample(range(length), 2))
  while _rank(bad[i]) == _rank(bad[j]):
    i, j = sorted(rng.sample(range(length), 2))
  bad[i], bad[j] = bad[j], bad[i]
  return {"a": good, "b": bad} if rng.random() < 0.5 else {"a": bad, "b": good}


def question(inst):
  return with_instance(
      "Which adjective order is correct for describing a noun, option A (the words in a) or option B (the "
      "words in b)? English puts adjectives in the order opinion, size, age, shape, color, origin, "
      "material, purpose. Answer 'A' or 'B'.", inst)


def reference(inst):
  ranks = [_rank(w) for w in inst["a"]]
  return "A" if ranks == sorted(ranks) else "B"


TASK = RuleTask(
    id="bbh_hyperbaton", name="Hyperbaton", source="bbh", split="rf_pretrain",
    length_meaning="number of adjectives", rule=correct_option, sample=sample, question=question,
    reference=reference, min_length=2)
