"""Pipelines: specs, inputs and datums, jobs, the worker that runs a datum's code, and the
metadata they keep. Builds on ``raypachy.pfs``; never imports ray (``raypachy.runtime`` runs
its batches on Ray)."""
