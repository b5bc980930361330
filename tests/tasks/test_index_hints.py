"""The rf_index format: exactly the rf trace plus index hints, on every task."""
import re

import pytest

from meta_rfft.evaluate.examples import traced_loops
from meta_rfft.tasks import formats, index_hints, registry, tracer

# A marker sits right after `[` or `, ` and right before the element it names (a number, a list, a string).
_MARKER = re.compile(r"(\[|, )([a-zA-Z]|#\d+:)(?=[-\d\['\"(]|True|False|None)")


def same_but_hints(hinted: str, plain: str) -> bool:
  """Line by line (hints add no line): equal, or equal once the hinted line's markers are removed. Lines that
  are equal as they stand (the recited rule) are never stripped, so code like `buckets[w[0]]` is left alone."""
  a, b = hinted.split("\n"), plain.split("\n")
  if len(a) != len(b):
    return False
  for h, p in zip(a, b):
    if h != p:
      h = re.sub(rf"^({tracer.ENTER}) ([a-zA-Z]|#\d+:)$", r"\1", h)
      if _MARKER.sub(r"\1", h) != p:
        return False
  return True


def test_render_marks_every_list_element():
  assert index_hints.render([7, 1, 3]) == "[a7, b1, c3]"
  assert index_hints.render([[7, 1], [3]]) == "[a[a7, b1], b[a3]]"
  assert index_hints.render(["../", "d8/"]) == "[a'../', b'd8/']"
  assert index_hints.render(([1], 2)) == "([a1], 2)"
  assert index_hints.render(list(range(60))).endswith("Y50, Z51, #52:52, #53:53, #54:54, #55:55, #56:56, #57:57, "
                                                     "#58:58, #59:59]")
  for plain in (12, "abc", None, True, {"x": [1]}, (1, 2)):
    assert index_hints.render(plain) == formats.format_answer(plain)
  with pytest.raises(ValueError, match="negative position"):
    index_hints.marker(-1)


@pytest.mark.parametrize("fmt", ["rf_index", "rf_index_shift"])
@pytest.mark.parametrize("task", registry.all_tasks(), ids=lambda t: t.id)
def test_rf_index_is_rf_plus_hints(task, fmt):
  for length in (task.min_length, task.min_length + 6):
    if task.max_length is not None and length > task.max_length:
      continue
    plain = formats.make_example(task, length, 3, "rf")
    hinted = formats.make_example(task, length, 3, fmt)
    assert hinted.answer == plain.answer and hinted.targets.endswith("So the answer is " + plain.answer)
    assert same_but_hints(hinted.inputs, plain.inputs)
    assert same_but_hints(hinted.targets, plain.targets)
    assert traced_loops(hinted.targets) == traced_loops(plain.targets)
    # Each run of a `for` loop counts its iterations from the first marker (a, or the example's shift).
    marks = re.findall(rf"^{tracer.ENTER} (\S+)$", hinted.targets, flags=re.M)
    first = index_hints.shifted(task.id, 3).marker(0) if fmt == "rf_index_shift" else "a"
    if marks:
      assert marks[0] == first


def test_shift_is_per_example_and_within_the_alphabet():
  offsets = {index_hints.shifted("lc_283", seed).offset for seed in range(200)}
  assert offsets == set(range(index_hints.MAX_SHIFT + 1))
  h = index_hints.shifted("lc_283", 4)
  assert h is index_hints.shifted("lc_283", 4) and h.render([5, 6]) == f"[{h.marker(0)}5, {h.marker(1)}6]"
  assert index_hints.hints(2).render([[1]]) == "[c[c1]]"


def test_a_question_of_another_shape_is_named():
  with pytest.raises(ValueError, match="rf_index: the question does not end with its instance"):
    index_hints.question("What is 1 + 1?", {"a": 1})
