"""LeetCode 2418, Sort the People. Length = number of people."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask

NAMES = ("Alice", "Bob", "Carol", "Dan", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj",
         "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Mary", "John", "Emma")


def sort_people(names, heights):
  pairs = sorted(zip(heights, names), reverse=True)
  res = []
  for h, name in pairs:
    res.append(name)
  return res


def sample(rng, length):
  names = [rng.choice(NAMES) for _ in range(length)]
  return {"names": names, "heights": rng.sample(range(140, 200 + length), length)}


def question(inst):
  return ask(
      "You are given an array of strings names and an array heights of distinct positive integers of the "
      "same length; heights[i] is the height of names[i]. Return names sorted in descending order by the "
      "people's heights.", inst)


def reference(inst):
  order = sorted(range(len(inst["heights"])), key=lambda i: -inst["heights"][i])
  return [inst["names"][i] for i in order]


TASK = RuleTask(
    id="lc_2418", name="Sort the People", source="leetcode", split="rf_pretrain",
    length_meaning="number of people", rule=sort_people, sample=sample, question=question,
    reference=reference)
