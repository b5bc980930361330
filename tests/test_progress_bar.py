"""The progress bar the trainer and the evaluator share: each caller's log lines, the terminal line, and no MFU
where no peak FLOP/s is known."""
import io
import math

from meta_rfft.evaluate.progress import Progress as EvalProgress
from meta_rfft.train.metrics import Progress as TrainProgress


class _Terminal(io.StringIO):
  def isatty(self):
    return True


def test_trainer_logs_every_n_steps_and_the_last():
  out = io.StringIO()
  p = TrainProgress(0, 5, 2, stream=out)
  for step in range(1, 6):
    p.update(step, {"loss": 1.5, "grad_norm": 0.25, "tokens_per_s": 100.0, "mfu": math.nan, "other": 3.0})
  p.close()
  lines = out.getvalue().splitlines()
  assert [line.split()[1] for line in lines] == ["2/5", "4/5", "5/5"]
  assert lines[0].startswith("step 2/5 loss=1.5 grad_norm=0.25 tokens_per_s=100 eta=")
  assert "mfu" not in out.getvalue()  # NaN: no known peak


def test_trainer_shows_a_known_mfu_and_messages_below_the_bar():
  out = _Terminal()
  p = TrainProgress(0, 4, 10, stream=out)
  p.update(1, {"loss": 2.0, "mfu": 0.5})
  p.message("stopping")
  p.close()
  text = out.getvalue()
  assert text.startswith("\r[") and " 1/4 eta " in text and "mfu=0.5\x1b[K\nstopping\n" in text


def test_evaluator_logs_the_first_update_and_the_end():
  out = io.StringIO()
  p = EvalProgress(10, done=2, label="eval", stream=out, log_every_s=3600)
  p.update(3, note="a")
  p.update(3)
  p.update(2, note="b")
  lines = out.getvalue().splitlines()
  assert len(lines) == 2
  assert lines[0].startswith("eval [############............] 5/10  50.0% ") and lines[0].endswith(" a")
  assert lines[1].startswith("eval [########################] 10/10 100.0% ") and lines[1].endswith(" b")


def test_evaluator_terminal_line_ends_when_done():
  out = _Terminal()
  p = EvalProgress(2, stream=out)
  p.update(1)
  p.update(1)
  text = out.getvalue()
  assert text.count("\r") == 2 and text.endswith("\x1b[K\n") and " 2/2 100.0% " in text
