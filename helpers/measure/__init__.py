"""Measuring a model: accuracy, latency, size, significance, operator profiles, the machine, and how much
to measure (profiles). Imports only `core` and `data`."""
