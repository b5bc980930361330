"""Big-Bench-Hard Navigate: always facing forward, do the moves return to the start?

Length = number of instructions.
"""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask

_AXES = {"forward": (0, 1), "backward": (0, -1), "left": (-1, 0), "right": (1, 0)}


def navigate(moves):
  x = 0
  y = 0
  for d, n in moves:
    if d == 'forward':
      y += n
    elif d == 'backward':
      y -= n
    elif d == 'left':
      x -= n
    else:
      x += n
  return x == 0 and y == 0


def _closed_group(rng, k, axis):
  """k >= 2 signed steps along one axis (no zero step) that sum to zero."""
  steps = [rng.choice([-1, 1]) * rng.randint(1, 9) for _ in range(k - 1)]
  last = -sum(steps)
  if last == 0:  # move the first step away from zero without making it zero
    steps[0] += 1 if steps[0] != -1 else -1
    last = -sum(steps)
  names = ("right", "left") if axis == 0 else ("forward", "backward")
  return [(names[0], s) if s > 0 else (names[1], -s) for s in steps + [last]]


def sample(rng, length):
  if length >= 2 and rng.random() < 0.5:
    # Returns to the start: split the moves into two axes whose steps each cancel (groups of 0 or >= 2).
    kx = rng.choice([k for k in range(length + 1) if k != 1 and length - k != 1])
    moves = (_closed_group(rng, kx, 0) if kx else []) + (
        _closed_group(rng, length - kx, 1) if length - kx else [])
    rng.shuffle(moves)
  else:
    moves = [(rng.choice(list(_AXES)), rng.randint(1, 9)) for _ in range(length)]
  return {"moves": moves}


def question(inst):
  return with_instance(
      "Always face forward. Each move is (direction, number of steps). If you follow the moves, do you "
      "return to the starting point? Answer True or False.", inst)


def reference(inst):
  pos = sum(complex(*_AXES[d]) * n for d, n in inst["moves"])
  return pos == 0


TASK = RuleTask(
    id="bbh_navigate", name="Navigate", source="bbh", split="rf_pretrain",
    length_meaning="number of instructions", rule=navigate, sample=sample, question=question,
    reference=reference)
