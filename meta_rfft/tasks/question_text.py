"""How a question ends with its instance, for the tasks of issue 4 (same shape as the LeetCode tasks')."""
from __future__ import annotations

from typing import Any, Mapping


def with_instance(text: str, instance: Mapping[str, Any]) -> str:
  """The statement, then the instance as Python literals: `... In short, the input is a = 1, b = 2`."""
  args = ", ".join(f"{key} = {value!r}" for key, value in instance.items())
  return f"{text} In short, the input is {args}"
