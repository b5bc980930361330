"""LeetCode 1694, Reformat Phone Number. Length = characters of the phone string (at least 2 digits)."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask


def reformat_number(number):
  digits = number.replace(" ", "").replace("-", "")
  res = []
  i = 0
  while len(digits) - i > 4:
    res.append(digits[i:i + 3])
    i += 3
  if len(digits) - i == 4:
    res.append(digits[i:i + 2])
    res.append(digits[i + 2:])
  else:
    res.append(digits[i:])
  return "-".join(res)


def sample(rng, length):
  chars = [rng.choice("0123456789") if rng.random() < 0.8 else rng.choice(" -") for _ in range(length)]
  for i in rng.sample(range(length), 2):  # LeetCode guarantees at least two digits
    chars[i] = rng.choice("0123456789")
  return {"number": "".join(chars)}


def question(inst):
  return ask(
      "You are given a phone number as a string of digits, spaces and dashes. Remove the spaces and dashes, "
      "then group the digits from left to right into blocks of 3 until 4 or fewer remain; the remaining "
      "digits form one block of 2 or 3, or two blocks of 2 if there are 4. Return the blocks joined by "
      "dashes.", inst)


def reference(inst):
  digits = "".join(c for c in inst["number"] if c.isdigit())
  threes, rest = divmod(len(digits), 3)
  sizes = [3] * (threes - 1) + [2, 2] if rest == 1 else [3] * threes + ([2] if rest == 2 else [])
  out, start = [], 0
  for size in sizes:
    out.append(digits[start:start + size])
    start += size
  return "-".join(out)


TASK = RuleTask(
    id="lc_1694", name="Reformat Phone Number", source="leetcode", split="rf_pretrain",
    length_meaning="characters of the phone string", rule=reformat_number, sample=sample, question=question,
    reference=reference, min_length=2)
