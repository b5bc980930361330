"""A non-editable install carries what the code reads from the checkout: the task modules, the TFDS builder, the
shipped models and the configs (setup.py's package data), found by meta_rfft/shipped.py outside any checkout."""
import os
import subprocess
import sys
import zipfile

from meta_rfft import shipped


def test_a_wheel_install_runs_outside_the_checkout(tmp_path):
  wheels, site, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
  elsewhere.mkdir()
  subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(shipped.REPO_ROOT)],
                 check=True, capture_output=True, timeout=300)
  (wheel,) = wheels.iterdir()
  names = zipfile.ZipFile(wheel).namelist()
  for want in ("meta_rfft/_data/rule_tasks/lc_283.py", "meta_rfft/_data/meta_rfft_tfds/meta_rfft_tfds.py",
               "meta_rfft/_data/examples/baggage_fees.py", "meta_rfft/_configs/demo.py"):
    assert want in names, want
  shipped_models = [m for m in shipped.PRETRAINED_MODELS if (shipped.PRETRAINED_DIR / m / "config.json").is_file()]
  for model in shipped_models:
    assert f"meta_rfft/_data/pretrained/{model}/model.safetensors" in names
  subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                 check=True, capture_output=True, timeout=300)
  env = dict(os.environ, PYTHONPATH=str(site))  # ahead of the editable checkout; the dependencies are this venv's

  def run(*args):
    return subprocess.run([sys.executable, *args], cwd=elsewhere, env=env, capture_output=True, text=True,
                          timeout=300)
  where = run("-c", "import meta_rfft.shipped as s; print(s.__file__); print(s.TASK_DIR); print(s.PRETRAINED_DIR)")
  assert where.returncode == 0, where.stderr
  module, tasks, pretrained = where.stdout.split()
  assert module.startswith(str(site)) and tasks.startswith(str(site)) and pretrained.startswith(str(site))
  show = run("-m", "meta_rfft.tasks", "show", "lc_283", "--length", "2")
  assert show.returncode == 0 and "So the answer is" in show.stdout, show.stderr[-2000:]
  config = run("-m", "meta_rfft.config", "--config=configs/demo.py")  # the packaged copy of configs/demo.py
  assert config.returncode == 0 and '"heldout_tasks": "lc_283"' in config.stdout, config.stderr[-2000:]
