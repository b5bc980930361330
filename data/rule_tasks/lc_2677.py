"""LeetCode 2677, Chunk Array. Length = array length."""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask


def chunk(arr, size):
  res = []
  cur = []
  for x in arr:
    cur.append(x)
    if len(cur) == size:
      res.append(cur)
      cur = []
  if len(cur) > 0:
    res.append(cur)
  return res


def sample(rng, length):
  return {"arr": [rng.randint(0, 9) for _ in range(length)], "size": rng.randint(1, min(length, 6))}


def question(inst):
  return with_instance(
      "Given a list arr and a chunk size, split arr into consecutive chunks of length size (the last chunk "
      "may be shorter) and return the list of chunks.", inst)


def reference(inst):
  arr, size = inst["arr"], inst["size"]
  return [arr[i:i + size] for i in range(0, len(arr), size)]


TASK = RuleTask(
    id="lc_2677", name="Chunk Array", source="leetcode", split="heldout", length_meaning="array length",
    rule=chunk, sample=sample, question=question, reference=reference)
