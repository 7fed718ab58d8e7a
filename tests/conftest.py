import os
import sys

from rnnjax.scaling import runtime

runtime.use_all_cores()  # before any test computes: one XLA host device per core (at least 2 here)

# tests import the shared NumPy reference as a plain module
sys.path.insert(0, os.path.dirname(__file__))
