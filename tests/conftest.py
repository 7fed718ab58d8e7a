import os
import sys

import rnnjax  # noqa: F401  first, so that XLA gets one host device per core (at least 2 here)

# tests import the shared NumPy reference as a plain module
sys.path.insert(0, os.path.dirname(__file__))
