"""LeetCode 125, Valid Palindrome (letters only, case-insensitive). Length = half the string length."""
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask


def is_palindrome(s):
  i = 0
  j = len(s) - 1
  while i < j:
    if s[i].lower() != s[j].lower():
      return False
    i += 1
    j -= 1
  return True


def sample(rng, length):
  letters = "abcdefghij"
  half = [rng.choice(letters) for _ in range(length)]
  chars = half + half[::-1]
  if rng.random() < 0.5:  # break the symmetry at one random place
    k = rng.randrange(2 * length)
    chars[k] = rng.choice([c for c in letters if c != chars[k]])
  chars = [c.upper() if rng.random() < 0.3 else c for c in chars]
  return {"s": "".join(chars)}


def question(inst):
  return with_instance(
      "A string is a palindrome if it reads the same forward and backward, ignoring upper and lower case. "
      "Return True if s is a palindrome, and False otherwise.", inst)


def reference(inst):
  s = inst["s"].casefold()
  return s == s[::-1]


TASK = RuleTask(
    id="lc_125", name="Valid Palindrome", source="leetcode", split="heldout",
    length_meaning="half the string length", rule=is_palindrome, sample=sample, question=question,
    reference=reference)
