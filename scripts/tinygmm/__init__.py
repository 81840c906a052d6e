"""tinygmm: Gaussian mixture models fitted with scikit-learn, exported to C++ for microcontrollers."""

__version__ = "0.1.0"
