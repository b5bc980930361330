"""LeetCode 2678, Number of Senior Citizens. Length = array length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def count_seniors(details):
  count = 0
  for d in details:
    if int(d[11:13]) > 60:
      count += 1
  return count


def sample(rng, length):
  details = []
  for _ in range(length):
    phone = "".join(rng.choice("0123456789") for _ in range(10))
    details.append(f"{phone}{rng.choice('MFO')}{rng.randint(30, 90):02d}{rng.randint(0, 99):02d}")
  return {"details": details}


def question(inst):
  return ask(
      "Each string in details has 15 characters: a 10-digit phone number, one character for the gender, "
      "two characters for the age and two for the seat. Return the number of passengers strictly older than "
      "60.", inst)


def reference(inst):
  return sum(int(d[-4:-2]) > 60 for d in inst["details"])


TASK = RuleTask(
    id="lc_2678", name="Number of Senior Citizens", source="leetcode", split="rf_pretrain",
    length_meaning="array length", rule=count_seniors, sample=sample, question=question, reference=reference)
