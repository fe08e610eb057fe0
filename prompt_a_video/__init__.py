"""prompt-a-video: train LLM prompt refiners for text-to-video models.

Importing the package is cheap on purpose: heavy libraries (torch, lightning,
transformers, diffusers, mlflow) are imported inside the functions that need them, so
that `pav --help` answers fast.
"""

__version__ = "0.1.0"
