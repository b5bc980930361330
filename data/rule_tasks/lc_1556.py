"""LeetCode 1556, Thousand Separator. Length: n is drawn from 1000..1000 + 10**length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def thousand_separator(n):
  digits = str(n)
  res = ""
  for i in range(len(digits)):
    if i > 0 and i % 3 == 0:
      res = "." + res
    res = digits[len(digits) - 1 - i] + res
  return res


def sample(rng, length):
  return {"n": rng.randint(1000, 1000 + 10 ** length)}


def question(inst):
  return ask(
      "Given an integer n, add a dot '.' as the thousands separator and return it in string format.", inst)


def reference(inst):
  return f"{inst['n']:,}".replace(",", ".")


TASK = RuleTask(
    id="lc_1556", name="Thousand Separator", source="leetcode", split="rf_pretrain",
    length_meaning="number drawn from 1000..1000+10^length", rule=thousand_separator, sample=sample,
    question=question, reference=reference)
