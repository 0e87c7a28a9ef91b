"""Stage 3: the energy core — one flat JAX energy of all states, its grouped kernel, packed states, compiled calls, sharding."""
