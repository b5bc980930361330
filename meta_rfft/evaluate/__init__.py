"""Batched KV-cache decoding and length-generalisation evaluation (`python -m meta_rfft.evaluate`)."""
