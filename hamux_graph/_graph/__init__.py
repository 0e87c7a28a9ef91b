"""Stage 2: the graph — attribute schema, validation into a Plan, graph edits, compilation of a plan into fields."""
