"""LeetCode 482, License Key Formatting. Length = string length."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def license_key_formatting(s, k):
  chars = s.replace("-", "").upper()
  res = ""
  count = 0
  for c in reversed(chars):
    if count == k:
      res = "-" + res
      count = 0
    res = c + res
    count += 1
  return res


def sample(rng, length):
  pool = "abcdefxyzABCDEF0123456789"
  return {"s": "".join(rng.choice(pool) if rng.random() < 0.75 else "-" for _ in range(length)),
          "k": rng.randint(1, 4)}


def question(inst):
  return ask(
      "You are given a license key s of letters, digits and dashes, and an integer k. Reformat s so that "
      "every group contains exactly k characters, except the first group which may be shorter but not "
      "empty; groups are separated by single dashes and letters are uppercase. Return the reformatted key.",
      inst)


def reference(inst):
  key, k = inst["s"].replace("-", "").upper(), inst["k"]
  head = len(key) % k or k
  return "-".join([key[:head]] + [key[i:i + k] for i in range(head, len(key), k)]) if key else ""


TASK = RuleTask(
    id="lc_482", name="License Key Formatting", source="leetcode", split="rf_pretrain",
    length_meaning="string length", rule=license_key_formatting, sample=sample, question=question,
    reference=reference)
