"""The small list-editing code snippets that the one-shot synthetic set (snippet_tasks.py) composes.

Each snippet is a few lines of rule code over two lists `{a}`, `{b}` and an output list `{o}` (placeholders
that the composer fills with random variable names), together with an independent Python implementation of
the same edit (`apply`, over a `Lists` state). The composer's reference answer runs the `apply` functions,
so a snippet whose code and `apply` disagree is caught by the tests on every instance.

Snippets run inside `while {a} and {b}:`, so at the start of the body both lists are non-empty:
- KEEP snippets read and edit values but never change the lengths of `{a}` and `{b}` (so any number of them
  can run in a row without emptying a list);
- SHRINK snippets end the body: on every path they remove at least one element from `{a}` or `{b}` and add
  none, so `len(a) + len(b)` strictly decreases each iteration and every composed loop terminates.
"""
from __future__ import annotations

import dataclasses
from typing import Callable


@dataclasses.dataclass
class Lists:
  """The state the reference implementation edits: the two input lists and the output list."""

  a: list[int]
  b: list[int]
  o: list[int]


@dataclasses.dataclass(frozen=True)
class Snippet:
  name: str
  lines: tuple[str, ...]  # code lines, indented relative to the loop body (two spaces per level)
  apply: Callable[[Lists], None]


def _rotate_right(s: Lists) -> None:
  s.a.insert(0, s.a.pop())


def _halve_or_inc(s: Lists) -> None:
  s.a[0] = s.a[0] // 2 if s.a[0] % 2 == 0 else s.a[0] + 1


def _swap_heads(s: Lists) -> None:
  s.a[0], s.b[0] = s.b[0], s.a[0]


def _merge_step(s: Lists) -> None:
  source = s.a if s.a[0] < s.b[0] else s.b
  s.o.append(source.pop(0))


def _drop_larger_tail(s: Lists) -> None:
  (s.a if s.a[-1] > s.b[-1] else s.b).pop()


def _drop_from_longer(s: Lists) -> None:
  if len(s.a) >= len(s.b):
    s.a.pop()
  else:
    s.b.pop(0)


def _pop_difference(s: Lists) -> None:
  first = s.b.pop(0)
  s.o.append(first - s.a.pop())


KEEP = (
    Snippet("sum_heads", ("{o}.append({a}[0] + {b}[0])",), lambda s: s.o.append(s.a[0] + s.b[0])),
    Snippet("diff_tails", ("{o}.append({a}[-1] - {b}[-1])",), lambda s: s.o.append(s.a[-1] - s.b[-1])),
    Snippet("max_heads", ("{o}.append(max({a}[0], {b}[0]))",), lambda s: s.o.append(max(s.a[0], s.b[0]))),
    Snippet("min_cross", ("{o}.append(min({a}[-1], {b}[0]))",), lambda s: s.o.append(min(s.a[-1], s.b[0]))),
    Snippet("add_into_head", ("{a}[0] += {b}[0]",), lambda s: s.a.__setitem__(0, s.a[0] + s.b[0])),
    Snippet("dec_tail", ("{b}[-1] -= 1",), lambda s: s.b.__setitem__(-1, s.b[-1] - 1)),
    Snippet("swap_heads", ("{a}[0], {b}[0] = {b}[0], {a}[0]",), _swap_heads),
    Snippet("keep_bigger_head", ("if {a}[0] > {b}[0]:", "  {o}.append({a}[0])"),
            lambda s: s.o.append(s.a[0]) if s.a[0] > s.b[0] else None),
    Snippet("halve_or_inc", ("if {a}[0] % 2 == 0:", "  {a}[0] = {a}[0] // 2", "else:", "  {a}[0] += 1"),
            _halve_or_inc),
    Snippet("reverse_a", ("{a}.reverse()",), lambda s: s.a.reverse()),
    Snippet("sort_b", ("{b}.sort()",), lambda s: s.b.sort()),
    Snippet("len_times_head", ("{o}.append(len({a}) * {b}[0])",), lambda s: s.o.append(len(s.a) * s.b[0])),
    Snippet("head_in_other", ("if {b}[0] in {a}:", "  {o}.append({b}[0])"),
            lambda s: s.o.append(s.b[0]) if s.b[0] in s.a else None),
    Snippet("rotate_a_right", ("{a}.insert(0, {a}.pop())",), _rotate_right),
    Snippet("rotate_b_left", ("{b}.append({b}.pop(0))",), lambda s: s.b.append(s.b.pop(0))),
    Snippet("last_digit_product", ("{o}.append({a}[0] * {b}[-1] % 10)",),
            lambda s: s.o.append((s.a[0] * s.b[-1]) % 10)),
    Snippet("longer_len", ("if len({a}) > len({b}):", "  {o}.append(len({a}))"),
            lambda s: s.o.append(len(s.a)) if len(s.a) > len(s.b) else None),
)

SHRINK = (
    Snippet("pop_a_head", ("{a}.pop(0)",), lambda s: s.a.pop(0)),
    Snippet("pop_b_tail", ("{b}.pop()",), lambda s: s.b.pop()),
    Snippet("pop_both_heads", ("{o}.append({a}.pop(0) + {b}.pop(0))",),
            lambda s: s.o.append(s.a.pop(0) + s.b.pop(0))),
    Snippet("merge_step",
            ("if {a}[0] < {b}[0]:", "  {o}.append({a}.pop(0))", "else:", "  {o}.append({b}.pop(0))"),
            _merge_step),
    Snippet("drop_larger_tail", ("if {a}[-1] > {b}[-1]:", "  {a}.pop()", "else:", "  {b}.pop()"),
            _drop_larger_tail),
    Snippet("pop_difference", ("{o}.append({b}.pop(0) - {a}.pop())",), _pop_difference),
    Snippet("drop_from_longer", ("if len({a}) >= len({b}):", "  {a}.pop()", "else:", "  {b}.pop(0)"),
            _drop_from_longer),
)

SNIPPETS = KEEP + SHRINK
