"""Helpers shared by the test files, one concept per module (``pythonpath = ["tests"]``: ``import helpers.x``).

- ``reference``: independent reference formulas (the energy node by node, from DESIGN.md §1).
- ``convex_chain``: a small strongly convex model with its energy and gradient written out in numpy.
- ``graphs``: HAM graphs shared by the drawing tests.
- ``strategies``: hypothesis strategies (random valid HAMs).
- ``synapses``: user-defined synapses registered by the tests (one of them is in the compatibility files).
- ``compare``: what two models or graphs must share after a file round trip.
- ``bad_inputs``: wrong arguments generated from the public signatures, each with its expected error.
- ``browser``: a headless Chromium driven over the DevTools protocol (the interactive page's tests).
- ``fuzz_files``: a script that fuzzes the file readers, run in a subprocess.
- ``zoo_models``: every registered zoo entry at a small size (the zoo-wide file round trips).

Test files are named after what they test: ``test_<module>.py`` for a module of a private
stage (``_energy/kernel.py``: ``test_kernel.py``), ``test_<package>_<module>.py`` for a module
of a public sub-package (``lagrangians/simplex.py``: ``test_lagrangians_simplex.py``), and
``test_<package>.py`` where one file tests a whole package or public module.
"""
