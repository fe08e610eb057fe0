"""The code of a refiner's MLflow model (MLflow's "models from code"): not imported by the package.

:func:`prompt_a_video.refiner.mlflow_model.log_refiner_model` logs this file as the model's
code; MLflow copies it into the model and runs it when the model is loaded (by
``mlflow.pyfunc.load_model``, ``mlflow models serve``, or at logging time to check the input
example). Code rather than a pickle because MLflow 3 refuses to unpickle a ``PythonModel``
unless ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` is set, and a pickle would freeze this class
into every logged model. The file is kept thin: the work is done by the installed
``prompt_a_video`` (:class:`~prompt_a_video.refiner.api.Refiner` and the helpers of
:mod:`~prompt_a_video.refiner.mlflow_model`), so a model logged today runs with the
project's current fixes.
"""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel


class RefinerPythonModel(PythonModel):
    """An exported refiner behind MLflow's pyfunc interface.

    ``predict`` takes prompts (a DataFrame with a ``prompt`` column, a list of str or a
    str) and params ``n``, ``temperature``, ``top_p``, ``max_new_tokens``, ``seed``,
    ``guard``; it returns a DataFrame with one row per rewrite: ``prompt`` (the input) and
    ``refined``, as :meth:`Refiner.refine <prompt_a_video.refiner.api.Refiner.refine>`
    writes them (the export's own prompt format, the guard's fallback to the original).
    The model config given to ``mlflow.pyfunc.load_model(..., model_config=...)`` may set
    the ``Refiner``'s ``use``, ``dtype``, ``device`` and ``batch_size``.
    """

    def load_context(self, context) -> None:
        from prompt_a_video.refiner.mlflow_model import refiner_from_context

        self.refiner = refiner_from_context(context.artifacts, context.model_config)

    def predict(self, context, model_input, params: dict[str, Any] | None = None):
        from prompt_a_video.refiner.mlflow_model import predict_rows

        return predict_rows(self.refiner, model_input, params)


mlflow.models.set_model(RefinerPythonModel())
