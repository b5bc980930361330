"""LeetCode 682, Baseball Game. Length = number of operations."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def cal_points(operations):
  stack = []
  for op in operations:
    if op == "+":
      stack.append(stack[-1] + stack[-2])
    elif op == "D":
      stack.append(2 * stack[-1])
    elif op == "C":
      stack.pop()
    else:
      stack.append(int(op))
  return sum(stack)


def sample(rng, length):
  ops, size = [], 0
  for _ in range(length):
    allowed = ["num", "num"] + (["D", "C"] if size >= 1 else []) + (["+"] if size >= 2 else [])
    op = rng.choice(allowed)
    ops.append(str(rng.randint(-9, 20)) if op == "num" else op)
    size += -1 if op == "C" else 1
  return {"operations": ops}


def question(inst):
  return ask(
      "You keep score for a baseball game with strange rules. Going through operations: an integer x "
      "records a new score x; '+' records the sum of the previous two scores; 'D' records double the "
      "previous score; 'C' removes the previous score. Return the sum of all the scores on the record.", inst)


def reference(inst):
  record = []
  actions = {"+": lambda r: r + [r[-1] + r[-2]], "D": lambda r: r + [r[-1] * 2], "C": lambda r: r[:-1]}
  for op in inst["operations"]:
    record = actions[op](record) if op in actions else record + [int(op)]
  return sum(record)


TASK = RuleTask(
    id="lc_682", name="Baseball Game", source="leetcode", split="rf_pretrain",
    length_meaning="number of operations", rule=cal_points, sample=sample, question=question,
    reference=reference)
