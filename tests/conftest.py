import os

# Tests run JAX on the CPU and must not grab every core's worth of threads twice.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
