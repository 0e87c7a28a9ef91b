"""Stage 4: the dynamics — one clamp-aware Euler step and the drivers built on it (run, trace, relax, solve, eqprop)."""
