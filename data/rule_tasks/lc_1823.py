"""LeetCode 1823, Find the Winner of the Circular Game. Length = number of people."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def find_the_winner(n, k):
  friends = list(range(1, n + 1))
  i = 0
  while len(friends) > 1:
    i = (i + k - 1) % len(friends)
    friends.pop(i)
  return friends[0]


def sample(rng, length):
  return {"n": length, "k": rng.randint(1, length)}


def question(inst):
  return ask(
      "n friends sit in a circle, numbered 1 to n clockwise. Starting from friend 1, count k friends "
      "clockwise including the one you start at; the last friend counted leaves the circle, and counting "
      "restarts at the friend clockwise of them. Return the number of the last friend left (the winner).",
      inst)


def reference(inst):
  winner = 0  # Josephus recurrence, 0-indexed
  for size in range(2, inst["n"] + 1):
    winner = (winner + inst["k"]) % size
  return winner + 1


TASK = RuleTask(
    id="lc_1823", name="Find the Winner of the Circular Game", source="leetcode", split="rf_pretrain",
    length_meaning="number of people", rule=find_the_winner, sample=sample, question=question,
    reference=reference)
