"""Issue 12's GPU checks (``make bench-gpu``): see `keras_hw2.benchmarks.gpu`; on a CPU-only machine it says so, exit 0.

    python tools/gpu_check.py [--repeats 3] [--p2g-data DIR] [--output-dir runs/bench]
"""
from keras_hw2.benchmarks.gpu_command import main
from keras_hw2.cli import entry_point

if __name__ == "__main__":
    entry_point(main)
