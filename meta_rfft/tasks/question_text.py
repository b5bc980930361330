"""How a question ends with its instance: one shape for every task in data/rule_tasks/ (LeetCode tasks
reach it as `lc_helpers.ask`), so that `rf_index` can find the instance after `index_hints.INSTANCE_LEAD`."""
from __future__ import annotations

from typing import Any, Mapping


def with_instance(text: str, instance: Mapping[str, Any]) -> str:
  """The statement, then the instance as Python literals: `... In short, the input is a = 1, b = 2`."""
  args = ", ".join(f"{key} = {value!r}" for key, value in instance.items())
  return f"{text} In short, the input is {args}"
