"""LeetCode 2682, Find the Losers of the Circular Game. Length bounds the circle: n is drawn from 1..length-1.
"""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def circular_game_losers(n, k):
  seen = [False] * n
  pos = 0
  step = 1
  while not seen[pos]:
    seen[pos] = True
    pos = (pos + step * k) % n
    step += 1
  losers = []
  for i in range(n):
    if not seen[i]:
      losers.append(i + 1)
  return losers


def sample(rng, length):
  n = rng.randint(1, length - 1)
  return {"n": n, "k": rng.randint(1, n)}


def question(inst):
  return ask(
      "n friends sit in a circle, numbered 1 to n clockwise. Friend 1 has the ball; on the i-th turn the "
      "holder passes it i * k steps clockwise. The game ends when some friend receives the ball for the "
      "second time. Return, in ascending order, the friends who never received the ball.", inst)


def reference(inst):
  n, k = inst["n"], inst["k"]
  got = {1}
  cur, turn = 1, 1
  while True:
    cur = (cur - 1 + turn * k) % n + 1
    if cur in got:
      return sorted(set(range(1, n + 1)) - got)
    got.add(cur)
    turn += 1


TASK = RuleTask(
    id="lc_2682", name="Find the Losers of the Circular Game", source="leetcode", split="rf_pretrain",
    length_meaning="n drawn from 1..length-1", rule=circular_game_losers, sample=sample, question=question,
    reference=reference, min_length=2)
