"""The study's work lists: the same test questions in every arm, each arm's prompts, and the demonstrations.

- Base-D (`base_d`) and Direct (`direct`): the zero-shot prompt of config.format, answered by the base model and
  by the task's tuned model;
- Gold (`gold_k<k>`): the base model with k demonstrations carrying their gold traces (meta_rfft/tasks/few_shot.py);
- SampleGen (`samplegen_k<k>`): the same demonstrations' questions, their answers written by the task's tuned
  model (the arm `demos`: the tuned model answering each demonstration's zero-shot prompt), then the base model
  answers.
Every arm's items are the zero-shot items with another prompt: the same format, task, length, instance seed and
reference answer (and so the same sample keys and position ids), each arm in a samples.jsonl of its own, so
every arm is scored on identical questions by the evaluator's one scorer (meta_rfft/evaluate/examples.py: score).
"""
from __future__ import annotations

import dataclasses
import zlib
from typing import Callable, Mapping, Sequence

from meta_rfft.evaluate import examples as examples_lib
from meta_rfft.evaluate.examples import Item
from meta_rfft.tasks import few_shot
from meta_rfft.tasks.registry import get_task

BASE_D, DIRECT, DEMOS = "base_d", "direct", "demos"


def gold(k: int) -> str:
  return f"gold_k{k}"


def samplegen(k: int) -> str:
  return f"samplegen_k{k}"


def title(arm: str) -> str:
  """How reports name an arm: Base-D, Gold (k=2), SampleGen (k=1), Direct."""
  for prefix, name in (("gold_k", "Gold"), ("samplegen_k", "SampleGen")):
    if arm.startswith(prefix):
      return f"{name} (k={arm[len(prefix):]})"
  return {BASE_D: "Base-D", DIRECT: "Direct", DEMOS: "demonstrations"}.get(arm, arm)


def arm_names(ks: Sequence[int]) -> list[str]:
  """The arms scored in the report, in the order they are shown."""
  return [BASE_D] + [gold(k) for k in ks] + [samplegen(k) for k in ks] + [DIRECT]


def parse_ks(text: str) -> list[int]:
  try:
    ks = sorted({int(k) for k in str(text).split(",") if k.strip()})
  except ValueError:
    raise ValueError(f"config.ks must be comma-separated integers, got {text!r}") from None
  if not ks or ks[0] < 1:
    raise ValueError(f"config.ks must name demonstration counts >= 1, got {text!r}")
  return ks


@dataclasses.dataclass(frozen=True)
class Plan:
  questions: tuple[Item, ...]                                   # the zero-shot items, in work-list order
  demos: Mapping[tuple[str, int, int], tuple[few_shot.Demo, ...]]  # (task, length, seed) -> max(ks) demonstrations


def _question_key(it: Item) -> tuple[str, int, int]:
  return (it.task_id, it.length, it.seed)


def make_plan(questions: Sequence[Item], fmt: str, ks: Sequence[int], demo_seed: int) -> Plan:
  """The demonstrations of every question: the first k of max(ks) draws serve each k, so a smaller k's prompt
  shows a prefix of a larger k's demonstrations."""
  demos = {}
  for it in questions:
    seed = it.seed if int(demo_seed) == 0 else f"{it.seed}~{int(demo_seed)}"
    block = few_shot.split_prompt(it.inputs)[1]
    try:
      demos[_question_key(it)] = tuple(few_shot.demonstrations(get_task(it.task_id), fmt, seed, max(ks), block,
                                                               render_seed=it.seed))
    except ValueError as e:
      raise ValueError(f"config.ks / config.tasks: {e}") from None
    try:  # a format whose prompts carry their own example (rf_1shot) has no header to share: refused here
      few_shot.prompt(it.inputs, demos[_question_key(it)][:1], [""])
    except ValueError as e:
      raise ValueError(f"config.format={fmt!r} is not a zero-shot format k examples can be added to ({e})") from None
  return Plan(tuple(questions), demos)


def zero_shot(plan: Plan, tasks: Sequence[str] | None = None) -> list[Item]:
  """Base-D's or Direct's items (of `tasks` only, if given)."""
  return [it for it in plan.questions if tasks is None or it.task_id in tasks]


def _with_examples(plan: Plan, k: int, answers: Callable[[str, Sequence[few_shot.Demo]], list[str]]) -> list[Item]:
  """Every question behind its first k demonstrations, answered by `answers(task id, demonstrations)`."""
  out = []
  for it in plan.questions:
    demos = plan.demos[_question_key(it)][:k]
    out.append(dataclasses.replace(it, inputs=few_shot.prompt(it.inputs, demos, answers(it.task_id, demos))))
  return out


def gold_items(plan: Plan, k: int) -> list[Item]:
  return _with_examples(plan, k, lambda _, demos: few_shot.gold_answers(demos))


def demo_seed_id(demo: few_shot.Demo) -> int:
  """A demonstration's instance seed in samples.jsonl (its draw seed is a string)."""
  return zlib.crc32(demo.seed.encode())


def demo_key(task_id: str, demo: few_shot.Demo) -> tuple[str, int, int]:
  """(task, length, seed id): how the arm `demos` knows a demonstration, as its samples.jsonl rows do."""
  return (task_id, demo.length, demo_seed_id(demo))


def demo_items(plan: Plan, fmt: str, tasks: Sequence[str]) -> list[Item]:
  """Every distinct demonstration of `tasks`' questions as a zero-shot item, for a tuned model to answer."""
  out, seen = [], set()
  for it in plan.questions:
    if it.task_id not in tasks:
      continue
    for demo in plan.demos[_question_key(it)]:
      key = demo_key(it.task_id, demo)
      if key in seen:
        continue
      seen.add(key)
      ex = demo.example
      loops = demo.loops if examples_lib.is_rf(fmt) else None
      out.append(Item(fmt, *key, ex.inputs, ex.targets, ex.answer, loops))
  return out


def samplegen_items(plan: Plan, k: int, written: Mapping[tuple[str, int, int], str]) -> list[Item]:
  """SampleGen's items: each demonstration's answer is the tuned model's output for it (`written`, by
  `demo_key`)."""
  def answers(task_id: str, demos: Sequence[few_shot.Demo]) -> list[str]:
    for demo in demos:
      if demo_key(task_id, demo) not in written:
        raise ValueError(f"no tuned-model answer for demonstration {demo.seed!r} of task {task_id!r}")
    return [written[demo_key(task_id, demo)] for demo in demos]
  return _with_examples(plan, k, answers)
