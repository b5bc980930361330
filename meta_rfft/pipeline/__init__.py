"""The end-to-end Meta-RFFT job: `python -m meta_rfft.pipeline --config=configs/demo.py --workdir=DIR`."""
