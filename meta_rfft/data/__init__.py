"""Where examples become batches: TFDS materialisation, seqio tasks/mixtures, vocabularies, packing.

Public entry points (see each module's docstring):
  meta_rfft.data.config.default_data_config()      the data settings configs embed (ConfigDict)
  meta_rfft.data.vocab.make_vocabulary(spec)       "char" or a path to a Hugging Face tokenizer.json
  meta_rfft.data.seqio_tasks.register(data_cfg, vocab)   builds (once) and registers seqio tasks/mixtures
  meta_rfft.data.pipeline.make_batch_iterator(...)  packed training batches, resumable and shardable
  meta_rfft.data.pipeline.iterate_examples(...)     finite, unshuffled examples for evaluation
"""
