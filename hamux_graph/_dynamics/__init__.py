"""Stage 4: the dynamics — one engine with one clamp-aware Euler step (common, engine) and the drivers built on it (euler: step/run, trace, relax, ode: solve, eqprop)."""
