"""fastmm: find, prove, export and train fast matrix-multiplication schemes."""

__version__ = "0.1.0"
