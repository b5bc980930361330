"""Big-Bench-Hard Object Counting: how many objects of one kind are listed. Length = number of objects."""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask

KINDS = {
    "fruit": ("apple", "banana", "plum", "grape"),
    "animal": ("cat", "dog", "goat", "fish"),
    "instrument": ("piano", "flute", "drum", "violin"),
}
_NUMBERS = ("a", "two", "three", "four")


def count_objects(items, kind):
  kinds = {'apple': 'fruit', 'banana': 'fruit', 'plum': 'fruit', 'grape': 'fruit', 'cat': 'animal', 'dog': 'animal', 'goat': 'animal', 'fish': 'animal', 'piano': 'instrument', 'flute': 'instrument', 'drum': 'instrument', 'violin': 'instrument'}
  total = 0
  for name, n in items:
    if kinds[name] == kind:
      total += n
  return total


def sample(rng, length):
  words = [w for ws in KINDS.values() for w in ws]
  return {"items": [(rng.choice(words), rng.randint(1, 4)) for _ in range(length)],
          "kind": rng.choice(sorted(KINDS))}


def question(inst):
  said = ", ".join(f"{_NUMBERS[n - 1]} {name}{'s' if n > 1 else ''}" for name, n in inst["items"])
  return with_instance(f"I have {said}. How many objects of the kind {inst['kind']} do I have?", inst)


def reference(inst):
  members = set(KINDS[inst["kind"]])
  return sum(n for name, n in inst["items"] if name in members)


TASK = RuleTask(
    id="bbh_object_counting", name="Object Counting", source="bbh", split="rf_pretrain",
    length_meaning="number of objects", rule=count_objects, sample=sample, question=question,
    reference=reference)
