"""TART: a task-agnostic reasoning head, trained only on synthetic logistic regression and composed with any of
our checkpoints' representations (`python -m meta_rfft.tart train|evaluate`, configs/tart.py)."""
