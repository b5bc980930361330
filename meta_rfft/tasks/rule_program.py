"""Static view of a rule: its source, the checks of the supported Python subset, and per-line facts.

The tracer needs to know, for every source line of a rule, what kind of statement it is (a loop header, a
branch test, a simple statement), which lines form the body it enters, which variables the line reads and
which subscripts (`x[i]`) are worth showing. All of that comes from the AST of the rule, computed once per
rule function and cached.

The Python subset a rule may use, enforced by `analyse` (a RuleError names the rule and the line): a plain
top-level function whose source is exactly that one definition, without decorators or a docstring (the model
sees the rule verbatim); parameters are plain names without defaults, `*args`, `**kwargs`, keyword-only or
positional-only markers (they are the instance's keys); no nested functions, lambdas, classes, try/except,
with, global/nonlocal, imports, generators, await/async for or match (`_FORBIDDEN` says why); every name read
is a parameter, a variable the rule assigns, or a builtin (the model sees nothing but the rule); every
statement fits on one source line, one statement per line (the trace recites a rule line by line).
"""
from __future__ import annotations

import ast
import builtins
import dataclasses
import functools
import inspect
import textwrap
from typing import Any, Callable

# Statements and expressions a rule may not use: they hide work from the trace (nested functions, lambdas,
# classes, generators), reach outside the rule (imports, global/nonlocal) or make the execution order
# unclear (try/with/match, await).
_FORBIDDEN = {
    ast.FunctionDef: "nested functions", ast.AsyncFunctionDef: "nested functions", ast.Lambda: "lambdas",
    ast.ClassDef: "classes", ast.Try: "try/except", ast.With: "with", ast.AsyncWith: "with",
    ast.Global: "global", ast.Nonlocal: "nonlocal", ast.Import: "imports", ast.ImportFrom: "imports",
    ast.Yield: "generators", ast.YieldFrom: "generators", ast.Await: "await", ast.AsyncFor: "async for",
    ast.Match: "match",
}
if hasattr(ast, "TryStar"):
  _FORBIDDEN[ast.TryStar] = "try/except"

# Builtins allowed inside a shown subscript (`x[len(x) - 1]`): pure, so evaluating them early is harmless.
_PURE_CALLS = {"len", "abs", "min", "max", "int", "str"}


@dataclasses.dataclass(frozen=True)
class LineInfo:
  """What the tracer needs to know about one source line (line numbers relative to the `def` line = 1)."""

  kind: str  # "for", "while", "if" (also elif), "return", or "simple"
  text: str  # the stripped source line, as recited in the trace
  body: tuple[int, int] | None  # first and last line of the body a loop enters / a true test runs
  reads: tuple[str, ...]  # variable names the line reads, in order of first appearance
  subscripts: tuple[tuple[str, Any], ...]  # (source text, compiled expression) of subscripts to show
  stores: frozenset[str]  # names the line assigns (shown as written even when the value is unchanged)


@dataclasses.dataclass(frozen=True)
class RuleProgram:
  name: str
  source: str  # dedented source of the rule, as shown to the model
  first_lineno: int  # absolute line number of the `def` line
  params: tuple[str, ...]
  lines: dict[int, LineInfo]


class RuleError(ValueError):
  """The rule uses Python outside the subset the tracer supports."""


def _fail(name: str, lineno: int | None, why: str) -> None:
  where = f" line {lineno}" if lineno is not None else ""
  raise RuleError(f"rule {name!r}{where}: {why}")


def _ordered_names(nodes: list[ast.AST], local_names: set[str]) -> tuple[str, ...]:
  seen: dict[str, tuple[int, int]] = {}
  for root in nodes:
    for node in ast.walk(root):
      if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in local_names:
        pos = (node.lineno, node.col_offset)
        if node.id not in seen or pos < seen[node.id]:
          seen[node.id] = pos
  return tuple(sorted(seen, key=seen.get))


def _is_pure(node: ast.AST) -> bool:
  """True if evaluating `node` early has no side effects (names, constants, arithmetic, subscripts)."""
  if isinstance(node, (ast.Name, ast.Constant)):
    return True
  if isinstance(node, ast.UnaryOp):
    return _is_pure(node.operand)
  if isinstance(node, ast.BinOp):
    return _is_pure(node.left) and _is_pure(node.right)
  if isinstance(node, ast.Subscript):
    return _is_pure(node.value) and _is_pure(node.slice)
  if isinstance(node, ast.Slice):
    return all(part is None or _is_pure(part) for part in (node.lower, node.upper, node.step))
  if isinstance(node, ast.Tuple):
    return all(_is_pure(e) for e in node.elts)
  if isinstance(node, ast.Call):
    return (isinstance(node.func, ast.Name) and node.func.id in _PURE_CALLS and not node.keywords
            and all(_is_pure(a) for a in node.args))
  return False


def _subscripts(nodes: list[ast.AST], source: str) -> tuple[tuple[str, Any], ...]:
  found = []
  for root in nodes:
    for node in ast.walk(root):
      if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_pure(node)
          and not isinstance(node.value, ast.Constant)):
        text = ast.get_source_segment(source, node)
        found.append(((node.col_offset, text), text))
  out, seen = [], set()
  for _, text in sorted(found):
    if text not in seen:
      seen.add(text)
      out.append((text, compile(text, "<subscript>", "eval")))
  return tuple(out)


def _header_parts(stmt: ast.stmt) -> list[ast.AST]:
  if isinstance(stmt, (ast.If, ast.While)):
    return [stmt.test]
  if isinstance(stmt, ast.For):
    return [stmt.iter]
  return [stmt]


def _check_one_line(name: str, stmt: ast.stmt) -> None:
  if isinstance(stmt, (ast.If, ast.While, ast.For)):
    parts = _header_parts(stmt) + ([stmt.target] if isinstance(stmt, ast.For) else [])
    end = max(p.end_lineno for p in parts)
  else:
    end = stmt.end_lineno
  if end != stmt.lineno:
    _fail(name, stmt.lineno, "a statement must fit on one source line")


@functools.lru_cache(maxsize=None)
def analyse(fn: Callable[..., Any]) -> RuleProgram:
  """Parses and checks a rule function; raises RuleError naming the rule and line if it is unsupported."""
  name = getattr(fn, "__name__", repr(fn))
  if not inspect.isfunction(fn):
    _fail(name, None, "a rule must be a plain Python function")
  if fn.__qualname__ != fn.__name__:
    _fail(name, None, "a rule must be a top-level function (not nested, not a method)")
  source = textwrap.dedent(inspect.getsource(fn))
  tree = ast.parse(source)
  if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
    _fail(name, None, "the rule's source must be exactly one function definition")
  fdef = tree.body[0]
  if fdef.decorator_list:
    _fail(name, 1, "decorators are not supported")
  args = fdef.args
  if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs or args.defaults:
    _fail(name, 1, "parameters must be plain names without defaults (the instance's keys)")
  if (fdef.body and isinstance(fdef.body[0], ast.Expr) and isinstance(fdef.body[0].value, ast.Constant)
      and isinstance(fdef.body[0].value.value, str)):
    _fail(name, fdef.body[0].lineno, "no docstring in a rule (the model sees the rule verbatim)")

  params = tuple(a.arg for a in args.args)
  local_names = set(params)
  for node in ast.walk(fdef):
    if node is not fdef and type(node) in _FORBIDDEN:
      _fail(name, getattr(node, "lineno", None), f"{_FORBIDDEN[type(node)]} are not supported in rules")
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
      local_names.add(node.id)
  for node in ast.walk(fdef):
    if (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local_names
        and not hasattr(builtins, node.id)):
      _fail(name, node.lineno, f"uses {node.id!r}, which is neither a parameter, a variable nor a builtin "
            "(a rule must be self-contained: the model sees only the rule)")

  src_lines = source.splitlines()
  lines: dict[int, LineInfo] = {}
  statements = [n for n in ast.walk(fdef) if isinstance(n, ast.stmt) and n is not fdef]
  for stmt in statements:
    _check_one_line(name, stmt)
    if stmt.lineno in lines:
      _fail(name, stmt.lineno, "one statement per source line (no `;`, no `if x: y` on one line)")
    text = src_lines[stmt.lineno - 1].strip()
    body = None
    if isinstance(stmt, ast.For):
      kind, body = "for", (stmt.body[0].lineno, stmt.body[-1].end_lineno)
    elif isinstance(stmt, ast.While):
      kind, body = "while", (stmt.body[0].lineno, stmt.body[-1].end_lineno)
    elif isinstance(stmt, ast.If):
      kind, body = "if", (stmt.body[0].lineno, stmt.body[-1].end_lineno)
    elif isinstance(stmt, ast.Return):
      kind = "return"
    else:
      kind = "simple"
    parts = _header_parts(stmt)
    reads = list(_ordered_names(parts, local_names))
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
      reads = [stmt.target.id] + [r for r in reads if r != stmt.target.id]  # `x += 1` reads x first
    targets = [stmt.target] if isinstance(stmt, ast.For) else [] if body else [stmt]
    stores = frozenset(n.id for t in targets for n in ast.walk(t)
                       if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    lines[stmt.lineno] = LineInfo(kind=kind, text=text, body=body, reads=tuple(reads),
                                  subscripts=_subscripts(parts, source), stores=stores)
  return RuleProgram(name=name, source=source, first_lineno=fn.__code__.co_firstlineno, params=params,
                     lines=lines)
