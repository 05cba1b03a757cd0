"""The benchmark harness behind ``bench/run.py``: processes, load generators, targets, report."""
