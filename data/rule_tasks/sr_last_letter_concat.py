"""Symbolic reasoning Last Letter Concatenation. Length = number of words."""
import re

from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask

_WORDS = ("Elon", "Musk", "Larry", "Page", "Ada", "Grace", "Alan", "Turing", "Marie", "Curie", "Isaac",
          "Newton", "Emmy", "Noether", "Niels", "Bohr", "Rosalind", "Franklin", "Carl", "Gauss")


def last_letters(words):
  res = ''
  for w in words:
    res += w[-1]
  return res


def sample(rng, length):
  return {"words": [rng.choice(_WORDS) for _ in range(length)]}


def question(inst):
  return with_instance("Take the last letter of each word and concatenate them.", inst)


def reference(inst):
  return "".join(re.findall(r"(\w)\b", " ".join(inst["words"])))


TASK = RuleTask(
    id="sr_last_letter_concat", name="Last Letter Concatenation", source="symbolic", split="rf_pretrain",
    length_meaning="number of words", rule=last_letters, sample=sample, question=question,
    reference=reference)
