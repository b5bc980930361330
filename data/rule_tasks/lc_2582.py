"""LeetCode 2582, Pass the Pillow. Length = number of people; the pillow is passed up to 2n times."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def pass_the_pillow(n, time):
  pos = 1
  step = 1
  for t in range(time):
    if pos + step > n or pos + step < 1:
      step = -step
    pos += step
  return pos


def sample(rng, length):
  return {"n": length, "time": rng.randint(1, 2 * length)}


def question(inst):
  return ask(
      "There are n people standing in a line labeled from 1 to n. The first person holds a pillow. Every "
      "second the holder passes it to the next person; once the pillow reaches the end of the line, the "
      "direction changes. Return the label of the person holding the pillow after time seconds.", inst)


def reference(inst):
  # Closed form: every n - 1 seconds the pillow crosses the whole line and turns around.
  rounds, rest = divmod(inst["time"], inst["n"] - 1)
  return inst["n"] - rest if rounds % 2 else 1 + rest


TASK = RuleTask(
    id="lc_2582", name="Pass the Pillow", source="leetcode", split="rf_pretrain",
    length_meaning="number of people", rule=pass_the_pillow, sample=sample, question=question,
    reference=reference, min_length=2)
