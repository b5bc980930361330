"""LeetCode 434, Number of Segments in a String. Length = number of segments."""
from meta_rfft.tasks.lc_helpers import WORDS, ask
from meta_rfft.tasks.spec import RuleTask


def count_segments(s):
  count = 0
  for part in s.split(" "):
    if part != "":
      count += 1
  return count


def sample(rng, length):
  gaps = [" " * rng.choice([1, 1, 1, 2, 3]) for _ in range(length + 1)]
  gaps[0] = gaps[0] if rng.random() < 0.3 else ""
  gaps[-1] = gaps[-1] if rng.random() < 0.3 else ""
  words = [rng.choice(WORDS) + (rng.choice(",.!") if rng.random() < 0.2 else "") for _ in range(length)]
  return {"s": gaps[0] + "".join(w + g for w, g in zip(words, gaps[1:]))}


def question(inst):
  return ask(
      "Given a string s, return the number of segments in it, where a segment is a contiguous sequence of "
      "non-space characters.", inst)


def reference(inst):
  return len(inst["s"].split())


TASK = RuleTask(
    id="lc_434", name="Number of Segments in a String", source="leetcode", split="rf_pretrain",
    length_meaning="number of segments", rule=count_segments, sample=sample, question=question,
    reference=reference)
