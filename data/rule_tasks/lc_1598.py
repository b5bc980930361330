"""LeetCode 1598, Crawler Log Folder. Length = number of operations."""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask


def min_operations(logs):
  depth = 0
  for op in logs:
    if op == '../':
      if depth > 0:
        depth -= 1
    elif op == './':
      continue
    else:
      depth += 1
  return depth


def sample(rng, length):
  ops = []
  for _ in range(length):
    r = rng.random()
    ops.append("../" if r < 0.3 else "./" if r < 0.45 else f"d{rng.randint(1, 9)}/")
  return {"logs": ops}


def question(inst):
  return with_instance(
      "A file system logs folder changes: '../' moves to the parent folder (staying put in the main "
      "folder), './' stays in the same folder, and 'x/' moves into the child folder x. Starting in the main "
      "folder, return the minimum number of operations needed to go back to the main folder after all "
      "the changes in logs.", inst)


def reference(inst):
  path = []  # the actual folder names, so the answer comes from the path itself
  for op in inst["logs"]:
    if op == "../":
      path = path[:-1]
    elif op != "./":
      path.append(op[:-1])
  return len(path)


TASK = RuleTask(
    id="lc_1598", name="Crawler Log Folder", source="leetcode", split="heldout",
    length_meaning="number of operations", rule=min_operations, sample=sample, question=question,
    reference=reference)
