"""Evaluation: ir-measures behind one adapter, tidy result files, and the summary table."""
