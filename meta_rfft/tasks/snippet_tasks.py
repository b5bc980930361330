"""The one-shot synthetic set: random compositions of list-editing snippets, each with a 1-shot exemplar.

The paper (Hu et al., cited in the README) added 100k such samples to RF-pretraining for one-shot prompting.
A synthetic program is a rule like

    def merge_lists(left, right):
      res = []
      while left and right:
        res.append(left[0] + right[0])      <- 1 to 3 KEEP snippets (snippets.py)
        if left[0] < right[0]:              <- exactly one SHRINK snippet, so the loop terminates
          res.append(left.pop(0))
        else:
          res.append(right.pop(0))
      return res + left + right

with random function and variable names. Program `index` (0 <= index < NUM_PROGRAMS) is fully determined by
its index; it becomes an ordinary `RuleTask` (source "synthetic", never in the task registry), so it is traced
and rendered by the same machinery as the real tasks, in the `rf_1shot` format: the rule, one worked example
of the same program on a short instance (fewer than 5 loop iterations), then the question.

Length = the length of the first list (the second has length - 1 .. length + 1 elements, at least 1); the
loop runs at most len(a) + len(b) - 1 times.

Why a fixed pool of NUM_PROGRAMS programs instead of a fresh program per sample: each program is compiled
once and kept (the tracer caches its analysis per function object), so generating 100k samples uses bounded
memory; 4096 programs x many instances still gives every sample a different (program, instance) pair.
"""
from __future__ import annotations

import functools
import linecache
import random
from typing import Any, Mapping

from meta_rfft.tasks import formats
from meta_rfft.tasks.question_text import with_instance
from meta_rfft.tasks.spec import RuleTask
from meta_rfft.tasks.snippets import KEEP, SHRINK, Lists, Snippet

NUM_PROGRAMS = 4096
FORMAT = "rf_1shot"
MAX_KEEP = 3

FUNCTION_NAMES = ("process", "combine", "merge_lists", "edit_lists", "walk", "mix", "transform", "pair_up",
                  "step", "run", "scan", "zip_edit", "consume", "fold_lists", "shuffle_lists", "blend")
LIST_NAMES = ("nums", "vals", "xs", "ys", "left", "right", "items", "data", "arr", "lst", "seq", "first",
              "second", "p", "q", "stack", "queue", "front", "back", "pool", "src", "other", "u", "v")
OUT_NAMES = ("res", "out", "acc", "result", "ans", "collected", "buf", "log", "trail", "picked")


def _program_parts(index: int) -> tuple[str, str, str, str, tuple[Snippet, ...]]:
  """(function name, a, b, o, snippets) of program `index`."""
  if not 0 <= index < NUM_PROGRAMS:
    raise ValueError(f"synthetic program index {index} is out of range 0..{NUM_PROGRAMS - 1}")
  rng = random.Random(f"synthetic/program/{index}")
  fname = rng.choice(FUNCTION_NAMES)
  a, b = rng.sample(LIST_NAMES, 2)
  o = rng.choice(OUT_NAMES)
  keep = rng.sample(KEEP, rng.randint(1, MAX_KEEP))
  return fname, a, b, o, tuple(keep) + (rng.choice(SHRINK),)


def program_source(index: int) -> str:
  fname, a, b, o, snippets = _program_parts(index)
  lines = [f"def {fname}({a}, {b}):", f"  {o} = []", f"  while {a} and {b}:"]
  for snippet in snippets:
    lines.extend("    " + line.format(a=a, b=b, o=o) for line in snippet.lines)
  lines.append(f"  return {o} + {a} + {b}")
  return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=None)
def program(index: int):
  """The compiled rule function of program `index` (its source is registered so `inspect` can read it)."""
  source = program_source(index)
  filename = f"<meta_rfft synthetic program {index}>"
  # The tracer shows the rule's source via inspect.getsource, which reads it from linecache; an entry with
  # mtime None is never evicted by linecache.checkcache.
  linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
  namespace: dict[str, Any] = {}
  exec(compile(source, filename, "exec"), namespace)  # noqa: S102  (our own generated code)
  return namespace[_program_parts(index)[0]]


def reference_answer(index: int, instance: Mapping[str, Any]) -> list[int]:
  """Runs the snippets' independent implementations (not the generated code) on the instance."""
  _, a, b, _, snippets = _program_parts(index)
  state = Lists(list(instance[a]), list(instance[b]), [])
  while state.a and state.b:
    for snippet in snippets:
      snippet.apply(state)
  return state.o + state.a + state.b


def _sample(index: int, rng: random.Random, length: int) -> dict[str, list[int]]:
  _, a, b, _, _ = _program_parts(index)
  other = max(1, length + rng.randint(-1, 1))
  return {a: [rng.randint(0, 20) for _ in range(length)], b: [rng.randint(0, 20) for _ in range(other)]}


def _question(instance: Mapping[str, Any]) -> str:
  return with_instance("Run the function on the two given lists and return what it returns.", instance)


@functools.lru_cache(maxsize=None)
def task(index: int) -> RuleTask:
  """Program `index` as a RuleTask (id `synthetic_<index>`), so the regular formats and tracer apply."""
  return RuleTask(
      id=f"synthetic_{index}", name=f"Synthetic list editing #{index}", source="synthetic",
      split="rf_pretrain",
      length_meaning="length of the first list", rule=program(index),
      sample=functools.partial(_sample, index), question=_question,
      reference=functools.partial(reference_answer, index))


def program_index(seed: int) -> int:
  return random.Random(f"synthetic/sample/{seed}").randrange(NUM_PROGRAMS)


def make_example(length: int, seed: int) -> formats.Example:
  """Synthetic sample `seed` at `length`: a program picked by the seed, an instance, a 1-shot exemplar."""
  t = task(program_index(seed))
  instance = formats.sample_instance(t, length, seed)
  formats.check_instance(t, instance)  # never emit a sample whose traced answer differs from the reference
  return formats.render(t, instance, FORMAT, seed)
