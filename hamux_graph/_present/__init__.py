"""Stage 4b: presenting a plan — summaries, collapsed groups, scenes, placement, labels, sizing and the page assets."""
