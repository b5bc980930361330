"""The error every conversion failure raises: a bad input, named (tensor, file, config key)."""


class ConversionError(ValueError):
  """A HF folder or checkpoint that cannot be converted; the message names the culprit."""
