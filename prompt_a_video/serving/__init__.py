"""An OpenAI-compatible HTTP server for a trained refiner (`pav serve`).

- :mod:`~prompt_a_video.serving.protocol`: what a request may hold (checked field by
  field into a :class:`~prompt_a_video.serving.protocol.RefineRequest` or an
  :class:`~prompt_a_video.serving.protocol.ApiError` with an OpenAI-style body) and the
  shapes of the answers (completions, SSE chunks, the model list). Standard library only.
- :mod:`~prompt_a_video.serving.batcher`: the micro-batcher: concurrent requests become
  one ``Refiner.refine`` call per group of equal sampling settings.
- :mod:`~prompt_a_video.serving.app`: the Starlette application (routes, body limit,
  bearer check, error bodies).
- :mod:`~prompt_a_video.serving.server`: loads the refiner and runs uvicorn until SIGTERM
  or Ctrl+C, which drain the requests in flight.

Why not LitServe's ``OpenAISpec``, and what a client may send: ``docs/serving.md``.
Nothing here is imported by ``pav --help``.
"""
