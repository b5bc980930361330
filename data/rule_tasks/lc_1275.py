"""LeetCode 1275, Find Winner on a Tic Tac Toe Game. Length = number of moves (1..9)."""
from meta_rfft.tasks.lc_helpers import ask
from meta_rfft.tasks.spec import RuleTask

LINES = [[(r, c) for c in range(3)] for r in range(3)] + [[(r, c) for r in range(3)] for c in range(3)] + [
    [(0, 0), (1, 1), (2, 2)], [(0, 2), (1, 1), (2, 0)]]


def tictactoe(moves):
  rows = [0, 0, 0]
  cols = [0, 0, 0]
  diag = 0
  anti = 0
  player = 1
  for r, c in moves:
    rows[r] += player
    cols[c] += player
    if r == c:
      diag += player
    if r + c == 2:
      anti += player
    if 3 in [abs(rows[r]), abs(cols[c]), abs(diag), abs(anti)]:
      return "A" if player == 1 else "B"
    player = -player
  return "Draw" if len(moves) == 9 else "Pending"


def _winner(board):
  for line in LINES:
    marks = {board.get(cell) for cell in line}
    if len(marks) == 1 and None not in marks:
      return marks.pop()
  return None


def sample(rng, length):
  # A random game of exactly `length` moves in which nobody has won before the last move.
  while True:
    cells = rng.sample([(r, c) for r in range(3) for c in range(3)], length)
    board = {}
    for i, cell in enumerate(cells[:-1]):
      board[cell] = "AB"[i % 2]
      if _winner(board):
        break
    else:
      return {"moves": [list(cell) for cell in cells]}


def question(inst):
  return ask(
      "Two players A and B play Tic-tac-toe on a 3 x 3 grid; A moves first with 'X', B with 'O'. moves[i] = "
      "[row, col] is the cell of the i-th move. Return the winner 'A' or 'B', \"Draw\" if the grid is full "
      "with no winner, or \"Pending\" if the game is not over.", inst)


def reference(inst):
  board = {tuple(cell): "AB"[i % 2] for i, cell in enumerate(inst["moves"])}
  return _winner(board) or ("Draw" if len(board) == 9 else "Pending")


TASK = RuleTask(
    id="lc_1275", name="Find Winner on a Tic Tac Toe Game", source="leetcode", split="rf_pretrain",
    length_meaning="number of moves", rule=tictactoe, sample=sample, question=question, reference=reference,
    max_length=9)
