"""rnnjax: compare recurrent cells properly, many seeds at once, in JAX/Flax."""

from rnnjax.runtime import use_all_cores

use_all_cores()  # before anything imports jax: one XLA host device per core on CPU
