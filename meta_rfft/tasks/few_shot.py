"""k-shot prompts: a zero-shot format's header, k worked examples of the same task, then the question.

The demonstrations are rf_1shot's worked examples (formats.one_shot_draw): short instances (fewer than 5 loop
iterations, at the task's four shortest lengths) drawn from their own seed stream, never from the test
instances' seeds. Demonstration 0 of test seed s is exactly rf_1shot's example for s,
so in the `rf` format the 1-shot prompt is byte-identical to rf_1shot's; demonstration j > 0 is drawn from the
seed "s/j". A draw whose question repeats an earlier demonstration's or the test question itself is replaced by
the next draw of its own stream ("s/r1", "s/r2", ... for demonstration 0; "s/j/r1", ... for j > 0): a prompt must not show its own answer. A task with
too few short instances for k different ones repeats a demonstration (never the test question).

A prompt is `header + (question block + answer + blank line) x k + question block`, where header and question
block are the zero-shot format's (`split_prompt`): every rf-family format, scratchpad and direct have that shape.
Whose answers fill the demonstrations is the caller's: gold traces (`gold_answers`), or a model's outputs.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from meta_rfft.tasks import formats
from meta_rfft.tasks.spec import RuleTask

QUESTION_START = "Q: "
_MAX_REDRAWS = 20


@dataclasses.dataclass(frozen=True)
class Demo:
  """One demonstration: its instance's zero-shot example in the prompt's format, and what identifies it."""
  seed: str          # the one_shot_draw seed it came from
  length: int
  example: formats.Example  # zero-shot inputs (header + question block), gold targets, answer
  loops: int                # loop iterations its rule runs


def split_prompt(inputs: str) -> tuple[str, str]:
  """(header, question block) of a zero-shot prompt: the block starts at its last line beginning "Q: "."""
  at = inputs.rfind("\n" + QUESTION_START)
  if at < 0:
    raise ValueError(f"prompt has no line starting {QUESTION_START!r}, so it has no question block to "
                     f"repeat: {inputs[:120]!r}")
  return inputs[:at + 1], inputs[at + 1:]


def demonstrations(task: RuleTask, fmt: str, seed: int | str, k: int, question: str,
                   render_seed: int = 0) -> list[Demo]:
  """The k demonstrations for test seed `seed`: question blocks never equal to `question` (the test prompt's
  block), and different from each other's where the task has enough short instances. `render_seed`: the test
  instance's seed, which picks format-level randomness (rf_index_shift's offset) for the demonstrations too."""
  if k < 1:
    raise ValueError(f"k must be >= 1, got {k}")
  used: set[str] = set()
  out = []
  for j in range(k):
    base = str(seed) if j == 0 else f"{seed}/{j}"
    repeat = None  # the first draw that only repeats an earlier demonstration: used if nothing new turns up
    for redraw in range(_MAX_REDRAWS + 1):
      draw_seed = base if redraw == 0 else f"{base}/r{redraw}"
      length, inst, trace = formats.one_shot_draw(task, draw_seed)
      ex = formats.render(task, inst, fmt, render_seed)
      block = split_prompt(ex.inputs)[1]
      if block == question:
        continue
      if block not in used:
        break
      repeat = repeat or (draw_seed, length, ex, block, trace)
    else:
      if repeat is None:
        raise ValueError(f"task {task.id!r}: every draw of demonstration {j} repeats the test question "
                         f"({_MAX_REDRAWS + 1} draws); its short instances are too few to demonstrate it")
      draw_seed, length, ex, block, trace = repeat
    used.add(block)
    out.append(Demo(draw_seed, length, ex, trace.loop_iterations))
  return out


def prompt(zero_shot_inputs: str, demos: Sequence[Demo], answers: Sequence[str]) -> str:
  """The k-shot prompt: the test prompt's header, each demonstration's question block and `answers[i]`, then
  the test question block. Every demonstration must share the test prompt's header."""
  if len(demos) != len(answers):
    raise ValueError(f"{len(demos)} demonstrations but {len(answers)} answers")
  header, block = split_prompt(zero_shot_inputs)
  parts = [header]
  for demo, answer in zip(demos, answers):
    demo_header, demo_block = split_prompt(demo.example.inputs)
    if demo_header != header:
      raise ValueError(f"demonstration {demo.seed!r} has another header than the prompt it goes in")
    parts.append(demo_block + answer + "\n\n")
  return "".join(parts) + block


def gold_answers(demos: Sequence[Demo]) -> list[str]:
  return [d.example.targets for d in demos]
