"""LeetCode 2103, Rings and Rods. Length = number of rings."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def count_points(rings):
  rods = {}
  for i in range(0, len(rings), 2):
    color = rings[i]
    rod = rings[i + 1]
    if rod not in rods:
      rods[rod] = ""
    if color not in rods[rod]:
      rods[rod] += color
  count = 0
  for rod, colors in rods.items():
    if len(colors) == 3:
      count += 1
  return count


def sample(rng, length):
  # Few rods, so that some of them collect all three colours.
  rods = "0123456789"[:rng.randint(1, 4)]
  return {"rings": "".join(rng.choice("RGB") + rng.choice(rods) for _ in range(length))}


def question(inst):
  return ask(
      "There are rings, each red, green or blue, placed on rods labeled 0 to 9. The string rings describes "
      "them in pairs: a colour ('R', 'G' or 'B') followed by the rod it is on. Return the number of rods "
      "that have all three colours of rings on them.", inst)


def reference(inst):
  r = inst["rings"]
  colors = [{r[i] for i in range(0, len(r), 2) if r[i + 1] == rod} for rod in "0123456789"]
  return colors.count(set("RGB"))


TASK = RuleTask(
    id="lc_2103", name="Rings and Rods", source="leetcode", split="rf_pretrain",
    length_meaning="number of rings", rule=count_points, sample=sample, question=question,
    reference=reference)
