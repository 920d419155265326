"""Inference: loading models, the generate / enhance / enhance_unsup jobs, chunking."""
