"""The folder layouts runs write and read, named in one place; no other module joins these names by hand.

- A converted checkpoint CKPT/ (written by meta_rfft.convert's importer): `meta_rfft.json` (what converted it, the
  stored dtype), `params/` (an Orbax PyTree of the decoder's params), `hf/` (the HF config and tokenizer files).
- A trainer WORKDIR/: `config.json` (the resolved config and command), `run.json` (how its examples became
  tokens: meta_rfft/data/run_record.py), `hf/` (the HF files the run started from,
  or the config.json of a from-scratch architecture), `checkpoints/<step>/` (one Orbax step, see `Step`),
  `checkpoints_unreadable/<step>-<time>/` (steps that failed to restore, set aside), `metrics.jsonl`,
  `tensorboard/`, and `eval/` (see `EvalDir`).
- A trainer step WORKDIR/checkpoints/<step>/: the items `params`, `adapters` (LoRA/PiSSA only), `opt_state`,
  `data` (the data iterator's position), `meta` (JSON: step, adapter settings, early-stopping state). Its HF
  files are its WORKDIR's `hf/`.
- An evaluation RUN/eval/: `config.json`, `samples.jsonl` (one header line, then one row per sample),
  `report.json`, `report.md`, `accuracy_vs_length.png`; and `qa/<file stem>/` for each question-answer set
  scored there (see `QaEvalDir`).
- A question-answer evaluation RUN/eval/qa/<file stem>/ (meta_rfft/evaluate/qa.py): `config.json`,
  `samples.jsonl` (as an evaluation's), `report.json`, `report.md`.
- A TART head's WORKDIR/ (meta_rfft/tart) is a trainer WORKDIR (its data item: the synthetic stream's identity);
  its evaluation WORKDIR/tart_eval/: `config.json`, `report.json`, `report.md`, `accuracy_vs_k.png`.
- An ICL-vs-fine-tuning study DIR/convergence/ (meta_rfft/evaluate/convergence): `config.json`, `report.json`,
  `report.md`, `scatter_<group>.png`, `accuracy_<group>.png`, and `arms/<arm>/[<run>/]samples.jsonl` (one
  evaluation's samples file per arm, and per tuned run for the arms a tuned model decodes).

Each path is an etils.epath.Path: a local folder made absolute, or an object-store URL kept as given.
"""
from __future__ import annotations

import dataclasses

from etils import epath

from meta_rfft import io_paths

CONVERTED_META = "meta_rfft.json"
STEP_ITEMS = ("params", "adapters", "opt_state", "data", "meta")
# Orbax's marker of a finished step on an object store (orbax.checkpoint._src.path.atomicity_types).
_COMMIT_SUCCESS = "commit_success.txt"


def _entry(name: str) -> property:
  """A named entry of a layout's root folder: each layout below reads as its table of names."""
  return property(lambda self: self.root / name, doc=f"ROOT/{name}")


@dataclasses.dataclass(frozen=True)
class Converted:
  root: epath.Path
  meta = _entry(CONVERTED_META)
  params = _entry("params")
  hf = _entry("hf")

  @classmethod
  def at(cls, path: io_paths.PathLike) -> "Converted":
    return cls(io_paths.resolve(path))

  def exists(self) -> bool:
    return self.meta.exists()


@dataclasses.dataclass(frozen=True)
class EvalDir:
  root: epath.Path
  config = _entry("config.json")
  samples = _entry("samples.jsonl")
  report_json = _entry("report.json")
  report_md = _entry("report.md")
  plot = _entry("accuracy_vs_length.png")

  def qa(self, stem: str) -> "QaEvalDir":
    """The evaluation of one question-answer file, named by its file name without the extension."""
    return QaEvalDir(self.root / "qa" / stem)


@dataclasses.dataclass(frozen=True)
class QaEvalDir:
  root: epath.Path
  config = _entry("config.json")
  samples = _entry("samples.jsonl")
  report_json = _entry("report.json")
  report_md = _entry("report.md")


@dataclasses.dataclass(frozen=True)
class TartEvalDir:
  root: epath.Path
  config = _entry("config.json")
  report_json = _entry("report.json")
  report_md = _entry("report.md")
  plot = _entry("accuracy_vs_k.png")


@dataclasses.dataclass(frozen=True)
class ConvergenceDir:
  root: epath.Path
  config = _entry("config.json")
  report_json = _entry("report.json")
  report_md = _entry("report.md")
  arms = _entry("arms")

  def samples(self, arm: str, run: str = "") -> epath.Path:
    """The samples.jsonl of one arm, under the tuned run's label for arms a tuned model decodes."""
    return (self.arms / arm / run if run else self.arms / arm) / "samples.jsonl"

  def scatter(self, group: str) -> epath.Path:
    return self.root / f"scatter_{group}.png"

  def accuracy_plot(self, group: str) -> epath.Path:
    return self.root / f"accuracy_{group}.png"


@dataclasses.dataclass(frozen=True)
class Workdir:
  root: epath.Path
  config = _entry("config.json")
  run_record = _entry("run.json")
  hf = _entry("hf")
  checkpoints = _entry("checkpoints")
  checkpoints_unreadable = _entry("checkpoints_unreadable")
  metrics = _entry("metrics.jsonl")
  tensorboard = _entry("tensorboard")

  @classmethod
  def at(cls, path: io_paths.PathLike) -> "Workdir":
    return cls(io_paths.resolve(path))

  @property
  def eval(self) -> EvalDir:
    return EvalDir(self.root / "eval")

  @property
  def tart_eval(self) -> TartEvalDir:
    return TartEvalDir(self.root / "tart_eval")

  @property
  def convergence(self) -> ConvergenceDir:
    return ConvergenceDir(self.root / "convergence")

  def step(self, step: int) -> "Step":
    return Step(self.checkpoints / str(int(step)))

  def complete_steps(self) -> list[int]:
    """The steps whose folders Orbax finished. On local disk it finalises a step by renaming its temporary
    folder to the bare step number; on an object store (no renames) it writes into the bare step folder and adds
    commit_success.txt when done, so there a step folder without that file is still being (or never fully)
    written."""
    if not self.checkpoints.is_dir():
      return []
    remote = io_paths.is_url(self.root)
    return sorted(int(p.name) for p in self.checkpoints.iterdir()
                  if p.name.isdigit() and (p / "params").is_dir()
                  and (not remote or (p / _COMMIT_SUCCESS).exists()))


@dataclasses.dataclass(frozen=True)
class Step:
  root: epath.Path
  # Orbax's record of a finished save: the items it wrote (a step folder without it never finished).
  orbax_metadata = _entry("_CHECKPOINT_METADATA")

  def item(self, name: str) -> epath.Path:
    if name not in STEP_ITEMS:
      raise KeyError(f"{name!r} is not a checkpoint item ({', '.join(STEP_ITEMS)})")
    return self.root / name

  @property
  def workdir(self) -> Workdir:
    return Workdir(self.root.parent.parent)

  def exists(self) -> bool:
    return self.item("params").is_dir()
