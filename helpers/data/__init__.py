"""GLUE SST-2: loading, validating and fixed subsets (validation to measure, train to calibrate and
train). Imports only `core`."""
