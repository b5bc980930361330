"""The trainer: batches become gradients, gradients become checkpoints (see trainer.py for the flow).

Public API: `python -m meta_rfft.train`, `trainer.train(config, workdir)`, `adapters.merge_adapters`,
`step.loss_sums` / `step.model_inputs` (the loss and the batch -> model-call mapping).
"""
