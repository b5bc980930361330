"""LeetCode 2078, Two Furthest Houses With Different Colors. Length = number of houses (at least 2)."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def max_distance(colors):
  best = 0
  n = len(colors)
  for i in range(n):
    if colors[i] != colors[0]:
      best = max(best, i)
    if colors[i] != colors[n - 1]:
      best = max(best, n - 1 - i)
  return best


def sample(rng, length):
  while True:
    main = rng.randint(1, 5)  # one dominant colour, so the ends often match
    colors = [main if rng.random() < 0.6 else rng.randint(1, 5) for _ in range(length)]
    if len(set(colors)) > 1:
      return {"colors": colors}


def question(inst):
  return ask(
      "There are n houses in a row; colors[i] is the colour of the i-th house. Return the maximum distance "
      "abs(i - j) between two houses i and j with different colours.", inst)


def reference(inst):
  c = inst["colors"]
  return max(j - i for i in range(len(c)) for j in range(i, len(c)) if c[i] != c[j])


TASK = RuleTask(
    id="lc_2078", name="Two Furthest Houses With Different Colors", source="leetcode", split="rf_pretrain",
    length_meaning="number of houses", rule=max_distance, sample=sample, question=question,
    reference=reference, min_length=2)
