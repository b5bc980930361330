"""Multi-turn rule-following conversations from our tasks.

The rule (the prompt format's header: instruction and rule code) is stated once, in the first user turn; each
turn then asks one question about a fresh instance, answered with the format's trace as reasoning and
`So the answer is X` as the answer. With the `direct` format the reasoning is empty.
"""
from __future__ import annotations

import random
from typing import Sequence

from meta_rfft.multiturn.conversation import Conversation, Turn
from meta_rfft.tasks import formats
from meta_rfft.tasks.answers import ANSWER_PREFIX
from meta_rfft.tasks.spec import RuleTask


def split_prompt(task: RuleTask, instance, inputs: str) -> tuple[str, str]:
  """A rendered prompt -> (header stated once, the question part "Q: ...")."""
  question = "Q: " + task.question(instance)
  at = inputs.rfind(question)
  if at < 0:
    raise ValueError(f"task {task.id!r}: the prompt does not contain its question {question[:60]!r}...")
  return inputs[:at], inputs[at:]


def make_turn(task: RuleTask, instance, fmt: str, seed: int) -> tuple[str, Turn]:
  """(header, turn whose `user` is the question part only)."""
  example = formats.render(task, instance, fmt, seed)
  header, question = split_prompt(task, instance, example.inputs)
  answer = ANSWER_PREFIX + example.answer
  reasoning = example.targets[:len(example.targets) - len(answer)]
  return header, Turn(user=question, reasoning=reasoning, answer=answer)


def generate_conversation(task: RuleTask, turns: int, lengths: Sequence[int], seed: int, index: int,
                          fmt: str = "rf") -> Conversation:
  """Conversation `index` of the set drawn with `seed`: `turns` questions, instance lengths from `lengths`.

  Instances come from their own seed namespace ("multiturn/..."), so they are not the single-turn split's.
  """
  if turns < 1:
    raise ValueError(f"--turns must be at least 1, got {turns}")
  for length in lengths:
    task.check_length(length)
  rng = random.Random(f"multiturn/{task.id}/{seed}/{index}")
  out, header0, used = [], None, []
  for j in range(turns):
    length = rng.choice(list(lengths))
    instance = dict(task.sample(random.Random(f"multiturn/{task.id}/{seed}/{index}/{j}/{length}"), length))
    header, turn = make_turn(task, instance, fmt, seed)
    if j == 0:
      header0 = header
      turn = Turn(user=header + turn.user, reasoning=turn.reasoning, answer=turn.answer)
    else:
      if header != header0:  # e.g. a format whose header depends on the instance: the rule is not stated once
        raise ValueError(f"format {fmt!r} of task {task.id!r} has an instance-dependent header; "
                         "multi-turn conversations need the same header for every question")
      # The previous answer ends the assistant's reply; a blank line separates the next question.
      turn = Turn(user="\n\n" + turn.user, reasoning=turn.reasoning, answer=turn.answer)
    out.append(turn)
    used.append(length)
  return Conversation(tuple(out), meta={"task": task.id, "format": fmt, "lengths": used, "seed": seed,
                                        "index": index})


def generate(task: RuleTask, turns: int | Sequence[int], num: int, lengths: Sequence[int], seed: int = 0,
             fmt: str = "rf") -> list[Conversation]:
  """`num` conversations; `turns` is a count or a list of counts to draw from per conversation."""
  if num < 1:
    raise ValueError(f"--num must be at least 1, got {num}")
  choices = [turns] if isinstance(turns, int) else list(turns)
  pick = random.Random(f"multiturn/{task.id}/{seed}/turns")
  return [generate_conversation(task, pick.choice(choices), lengths, seed, k, fmt) for k in range(num)]
