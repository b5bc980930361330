"""Big-Bench-Hard Dyck Languages: close the open brackets of a prefix of a balanced sequence.

Length = number of bracket pairs in the completed sequence.
"""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask

_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}


def complete_dyck(seq):
  pairs = {'(': ')', '[': ']', '{': '}', '<': '>'}
  stack = []
  for ch in seq:
    if ch in pairs:
      stack.append(ch)
    else:
      stack.pop()
  res = ''
  while len(stack) > 0:
    res += pairs[stack.pop()]
  return res


def sample(rng, length):
  # A random balanced sequence of `length` pairs, cut where at least one bracket is still open.
  seq, stack, opened = [], [], 0
  while opened < length or stack:
    if opened < length and (not stack or rng.random() < 0.55):
      ch = rng.choice("([{<")
      seq.append(ch)
      stack.append(ch)
      opened += 1
    else:
      seq.append(_PAIRS[stack.pop()])
  depth, cuts = 0, []
  for k, ch in enumerate(seq):
    depth += 1 if ch in _PAIRS else -1
    if depth > 0:
      cuts.append(k + 1)
  return {"seq": "".join(seq[:rng.choice(cuts)])}


def question(inst):
  return with_instance(
      "Complete the rest of the sequence, making sure that the parentheses are closed properly. Return "
      "only the closing brackets that must be appended.", inst)


def reference(inst):
  # Cancel matched adjacent pairs until none is left: what remains are the unclosed openers.
  s = inst["seq"]
  while any(o + c in s for o, c in _PAIRS.items()):
    for o, c in _PAIRS.items():
      s = s.replace(o + c, "")
  return "".join(_PAIRS[ch] for ch in reversed(s))


TASK = RuleTask(
    id="bbh_dyck_languages", name="Dyck Languages", source="bbh", split="rf_pretrain",
    length_meaning="number of bracket pairs", rule=complete_dyck, sample=sample, question=question,
    reference=reference)
