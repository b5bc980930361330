"""LeetCode 242, Valid Anagram. Length = number of letters of s."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def is_anagram(s, t):
  if len(s) != len(t):
    return False
  count = {}
  for a, b in zip(s, t):
    count[a] = count.get(a, 0) + 1
    count[b] = count.get(b, 0) - 1
  for c, v in count.items():
    if v != 0:
      return False
  return True


def sample(rng, length):
  s = [rng.choice("abcdef") for _ in range(length)]
  t = list(s)
  rng.shuffle(t)
  kind = rng.random()
  if kind < 0.35:
    t[rng.randrange(length)] = rng.choice("abcdef")
  elif kind < 0.45:
    t.append(rng.choice("abcdef"))
  return {"s": "".join(s), "t": "".join(t)}


def question(inst):
  return ask(
      "Given two strings s and t, return True if t is an anagram of s (it uses exactly the same letters the "
      "same number of times), and False otherwise.", inst)


def reference(inst):
  return sorted(inst["s"]) == sorted(inst["t"])


TASK = RuleTask(
    id="lc_242", name="Valid Anagram", source="leetcode", split="rf_pretrain",
    length_meaning="number of letters", rule=is_anagram, sample=sample, question=question,
    reference=reference)
