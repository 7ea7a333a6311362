"""bnntool: training-to-deployment toolchain for binarized neural networks on PYNQ boards."""

__version__ = "0.1.0"
