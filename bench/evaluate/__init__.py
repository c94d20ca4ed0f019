"""Evaluation: ir-measures behind one adapter (one tie rule for every measure), tidy result files and
their checked reader, the summary table and its markdown writer, and sweep aggregation."""
