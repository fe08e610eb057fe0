"""prompt-a-video: train LLM prompt refiners for text-to-video models.

Importing the package is cheap on purpose: heavy libraries (torch, lightning,
transformers, diffusers, mlflow) are imported inside the functions that need them, so
that `pav --help` answers fast.

``from prompt_a_video import Refiner`` gives the user-facing refiner
(:class:`prompt_a_video.refiner.Refiner`, docs/refiner.md).
"""

__version__ = "0.1.0"

__all__ = ["Refiner", "RefinedPipeline", "__version__"]


def __getattr__(name: str):
    # `from prompt_a_video import Refiner` without importing torch for `import prompt_a_video`.
    if name in ("Refiner", "RefinedPipeline"):
        import prompt_a_video.refiner

        return getattr(prompt_a_video.refiner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
