"""LeetCode 705, Design HashSet. Length = number of operations; the answer lists the `contains` results."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def design_hashset(operations):
  buckets = [[], [], [], [], []]
  res = []
  for op, key in operations:
    h = key % 5
    if op == "add" and key not in buckets[h]:
      buckets[h].append(key)
    elif op == "remove" and key in buckets[h]:
      buckets[h].remove(key)
    elif op == "contains":
      res.append(key in buckets[h])
  return res


def sample(rng, length):
  ops = [(rng.choice(["add", "add", "remove", "contains"]), rng.randint(0, 12)) for _ in range(length - 1)]
  return {"operations": ops + [("contains", rng.randint(0, 12))]}


def question(inst):
  return ask(
      "Design a HashSet without built-in hash table libraries: a table of 5 buckets where key goes to "
      "bucket key % 5. Run the operations in order: ('add', key) inserts key, ('remove', key) removes it if "
      "present, ('contains', key) reports whether key is in the set. Return the list of results of the "
      "contains operations.", inst)


def reference(inst):
  keys, out = set(), []
  for op, key in inst["operations"]:
    if op == "add":
      keys.add(key)
    elif op == "remove":
      keys.discard(key)
    else:
      out.append(key in keys)
  return out


TASK = RuleTask(
    id="lc_705", name="Design HashSet", source="leetcode", split="rf_pretrain",
    length_meaning="number of operations", rule=design_hashset, sample=sample, question=question,
    reference=reference)
