"""LeetCode 388, Longest Absolute File Path. Length = depth of the file system (levels to the deepest file)."""
from meta_rfft.tasks.lc_helpers import WORDS, ask
from meta_rfft.tasks.spec import RuleTask


def length_longest_path(fs):
  best = 0
  dir_len = {0: 0}
  for line in fs.split("\n"):
    name = line.lstrip("\t")
    depth = len(line) - len(name)
    if "." in name:
      best = max(best, dir_len[depth] + len(name))
    else:
      dir_len[depth + 1] = dir_len[depth] + len(name) + 1
  return best


def sample(rng, length):
  # A chain of length - 1 nested directories ending in a file, with random side files and directories.
  lines = []
  for depth in range(length):
    if rng.random() < 0.3:
      lines.append("\t" * depth + rng.choice(WORDS) + rng.choice([".txt", ".py", ".md"]))
    if rng.random() < 0.15:
      lines.append("\t" * depth + rng.choice(WORDS))
      lines.append("\t" * (depth + 1) + rng.choice(WORDS) + ".ext")
    if depth < length - 1:
      lines.append("\t" * depth + rng.choice(WORDS))
  lines.append("\t" * (length - 1) + rng.choice(WORDS) + ".log")
  return {"fs": "\n".join(lines)}


def question(inst):
  return ask(
      "A file system is described by a string fs: each line is a file or directory name, prefixed by as "
      "many tabs as its depth, and lines are separated by '\\n'. Names with a '.' are files. Return the "
      "length of the longest absolute path to a file, such as 'dir/subdir/file.ext', or 0 if there is no "
      "file.", inst)


def reference(inst):
  stack, best = [], 0
  for line in inst["fs"].splitlines():
    depth = line.count("\t")
    del stack[depth:]
    stack.append(line.strip("\t"))
    if "." in stack[-1]:
      best = max(best, len("/".join(stack)))
  return best


TASK = RuleTask(
    id="lc_388", name="Longest Absolute File Path", source="leetcode", split="rf_pretrain",
    length_meaning="depth of the file system", rule=length_longest_path, sample=sample, question=question,
    reference=reference)
