"""An exported refiner as an MLflow model: logged to its run, registered by name, loaded by URI.

::

    from prompt_a_video.refiner.mlflow_model import log_refiner_model

    uri = log_refiner_model("refiners/sft", run_id=fit_run, registered_model_name="refiner-sft")
    # -> "models:/refiner-sft/1"
    Refiner("models:/refiner-sft/1").refine("a dog")       # also "runs:/<run id>/refiner"
    mlflow.pyfunc.load_model("models:/refiner-sft/1").predict(["a dog"])

and from a shell: ``mlflow models serve -m models:/refiner-sft/1 --env-manager local -p 5001``.

Why a pyfunc and not MLflow's transformers flavour. ``mlflow.transformers.log_model``
would log the merged model as a ``text-generation`` pipeline, whose pyfunc ``predict``
sends the caller's string to the pipeline as it is. What a refiner is, beyond its weights,
would be lost:

- its prompt format: ``refiner.json`` gives a system turn and a user template applied
  through the tokenizer's chat template; the flavour's ``prompt_template`` is one
  ``{prompt}`` string format with no system turn and no chat template (the ``llm/v1/chat``
  task applies the chat template, but then every caller must send our system prompt and
  gets an OpenAI chat response back, not the rewrite);
- the guard: a rewrite that repeats itself, echoes instructions or loses the user's content
  is never returned (DESIGN, "Serving"); the pipeline returns whatever was sampled;
- the answer cleaning (a leading ``Refined prompt:`` label, wrapping quotes) and seeded
  sampling (same call, same rewrites);
- ``adapter/``: for a PEFT model the flavour saves the adapter and loads the base from the
  hub (or a ``base_model_path`` that must exist at load time) and knows nothing of a DPO
  adapter's ``base_adapter``, which :func:`~prompt_a_video.refiner.export.load_refiner` merges.

So the model here is a ``mlflow.pyfunc.PythonModel`` (:mod:`~prompt_a_video.refiner.mlflow_pyfunc`,
logged as code: MLflow 3 refuses pickled ones by default) whose one artifact is the export
folder, copied as it is, and whose ``predict`` is :meth:`Refiner.refine
<prompt_a_video.refiner.api.Refiner.refine>`: format, guard, cleaning, seeds are the
project's, the same as ``pav refine`` and ``pav serve``. The export folder stays the one
format: :func:`download_refiner` fetches it back and ``Refiner`` loads it as any other.
The price: the model needs ``prompt_a_video`` installed where it is loaded (its
requirements name the package; ``mlflow models serve --env-manager local`` uses the
current environment).

Model interface (signature and input example are logged with the model):

- input: prompts, one string column: a DataFrame with a ``prompt`` column, or a list of str (also
  ``{"inputs": [...]}`` in a serving request);
- params: ``n`` (rewrites per prompt), ``temperature``, ``top_p``, ``max_new_tokens``,
  ``seed``, ``guard``, with :meth:`Refiner.refine`'s defaults;
- output: a DataFrame with one row per rewrite, ``prompt`` (the input) and ``refined``.

Downloaded models are cached under ``<pav cache>/mlflow-models/`` (``$PAV_CACHE_DIR``,
see :func:`prompt_a_video.assets.cache_dir`), one folder per model version, so a second
``Refiner("models:/NAME/1")`` reads no artifact store. Nothing here reaches any network
but the tracking store's.

mlflow, pandas and torch are imported inside the functions: ``Refiner("folder")`` and
``pav --help`` never load them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prompt_a_video.tracking import StageRun

log = logging.getLogger(__name__)

#: The logged model's name: ``runs:/<run id>/refiner``.
MODEL_NAME = "refiner"
#: The pyfunc artifact that holds the export folder.
ARTIFACT_KEY = "refiner"
INPUT_COLUMN = "prompt"
OUTPUT_COLUMN = "refined"
#: predict's params: name -> (MLflow type, default). The defaults are Refiner.refine's.
PARAMS: dict[str, tuple[str, Any]] = {
    "n": ("long", 1),
    "temperature": ("double", 0.7),
    "top_p": ("double", 0.95),
    "max_new_tokens": ("long", 256),
    "seed": ("long", 0),
    "guard": ("boolean", True),
}
#: Keys of the model config (``mlflow.pyfunc.load_model(uri, model_config=...)``) passed to Refiner.
LOAD_OPTIONS = ("use", "dtype", "device", "batch_size")
URI_PREFIXES = ("models:/", "runs:/")
CODE_FILE = Path(__file__).with_name("mlflow_pyfunc.py")
CACHE_FOLDER = "mlflow-models"
CACHE_MARKER = ".download.json"
EXAMPLE_PROMPT = "a dog running on the beach"


def is_mlflow_uri(model: Any) -> bool:
    """Whether ``model`` names an MLflow model (``models:/...`` or ``runs:/...``), not a folder."""
    return isinstance(model, str) and model.startswith(URI_PREFIXES)


# --- logging ----------------------------------------------------------------------------

def log_refiner_model(export_dir: str | os.PathLike, run_id: str | None = None,
                      registered_model_name: str | None = None, *, name: str = MODEL_NAME,
                      tracking_uri: str | None = None, experiment: str | None = None,
                      record: StageRun | None = None) -> str:
    """Log an export folder of `pav export` as an MLflow pyfunc model, registered if asked.

    Args:
        export_dir: the export folder (``refiner.json`` + ``merged/`` and/or ``adapter/``),
            copied whole into the model as its artifact.
        run_id: the run that owns the model (a fit's run: its params and metrics are then
            next to the model); not reopened, its status is left as it is. Default: the
            active run, else a new ``export`` run (:func:`~prompt_a_video.tracking.tracked_stage`).
        registered_model_name: register the model under this name: the first time makes
            version 1, each later call the next version.
        name: the logged model's name, the last part of ``runs:/<run id>/<name>``.
        tracking_uri: the store (default :func:`~prompt_a_video.tracking.resolve_tracking_uri`:
            ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlruns.db`` in the working directory).
        experiment: the experiment of a new run (default ``prompt-a-video``).
        record: the config a new run records (a :class:`~prompt_a_video.tracking.StageRun`).

    Returns:
        ``models:/<registered name>/<version>`` when registered, else ``runs:/<run id>/<name>``;
        both load with ``Refiner``, ``mlflow.pyfunc.load_model`` and ``mlflow models serve``.

    Raises:
        FileNotFoundError: ``export_dir`` is not an export folder, or ``run_id`` is not a
            run of the store.
    """
    import mlflow

    from prompt_a_video.tracking import resolve_tracking_uri, tracked_stage

    folder = _check_export(export_dir)
    if not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"log_refiner_model: name must be letters, digits, '_', '-' or '.', got {name!r}")
    if registered_model_name is not None and not str(registered_model_name).strip():
        raise ValueError("log_refiner_model: registered_model_name is empty")
    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)  # Model.log and the registry work on MLflow's global store
    if run_id is not None:
        if not run_exists(run_id, uri):
            raise FileNotFoundError(f"MLflow run {run_id} not found in the tracking store {uri} "
                                    "(set MLFLOW_TRACKING_URI to the store the run is in)")
        return _log(folder, run_id, registered_model_name, name)
    active = mlflow.active_run()
    if active is not None:
        return _log(folder, active.info.run_id, registered_model_name, name)
    with tracked_stage("export", {"export_dir": str(folder.resolve()), "registered_model_name": registered_model_name},
                       record=record, experiment=experiment, run_name=f"export {folder.name}",
                       tracking_uri=uri) as tracked:
        return _log(folder, tracked.active_run().info.run_id, registered_model_name, name)


def _log(folder: Path, run_id: str, registered_model_name: str | None, name: str) -> str:
    """``Model.log`` with ``run_id``: the run gets the model without being reopened (a
    finished fit stays FINISHED), which ``mlflow.pyfunc.log_model`` cannot do."""
    import mlflow
    from mlflow.models import Model

    settings = _settings(folder)
    info = Model.log(
        artifact_path=None,  # MLflow 3 names models by `name`; the parameter is still positional
        name=name,
        flavor=mlflow.pyfunc,
        run_id=run_id,
        python_model=str(CODE_FILE),
        artifacts={ARTIFACT_KEY: str(folder.resolve())},
        signature=refiner_signature(),
        input_example=input_example(),
        pip_requirements=requirements(),  # given, so MLflow does not load the model in a subprocess to guess them
        registered_model_name=registered_model_name,
        metadata={"pav.refiner": {k: settings.get(k) for k in ("base_model", "prompt_format", "parts", "target",
                                                                 "exported", "pav_version")}},
        tags={"pav.export_dir": str(folder.resolve()), "pav.method": str(settings.get("trained", {}).get("method"))},
    )
    if registered_model_name is not None:
        version = info.registered_model_version
        log.info("registered %s as models:/%s/%s", folder, registered_model_name, version)
        return f"models:/{registered_model_name}/{version}"
    return f"runs:/{run_id}/{name}"


def _check_export(export_dir: str | os.PathLike) -> Path:
    from prompt_a_video.refiner.export import read_settings

    folder = Path(export_dir)
    if not folder.is_dir() or not (folder / "refiner.json").is_file() or read_settings(folder) is None:
        raise FileNotFoundError(f"not an export folder of `pav export`: {folder} (expected refiner.json and "
                                "merged/ or adapter/)")
    parts = [p for p in ("merged", "adapter") if (folder / p).is_dir()]
    if not parts:
        raise FileNotFoundError(f"not an export folder of `pav export`: {folder} has no merged/ or adapter/")
    if parts == ["adapter"]:
        settings = _settings(folder)
        log.warning("%s has adapter/ but no merged/: the logged model needs its base model %s (and base adapter "
                    "%s) where it is loaded; export with merged=True for a model that carries all its weights",
                    folder, settings.get("base_model"), settings.get("base_adapter"))
    return folder


def _settings(folder: Path) -> dict[str, Any]:
    from prompt_a_video.refiner.export import read_settings

    return read_settings(folder) or {}


def run_exists(run_id: str, tracking_uri: str | None = None) -> bool:
    """Whether ``run_id`` is a run of the store (default: the project's, see
    :func:`~prompt_a_video.tracking.resolve_tracking_uri`)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from prompt_a_video.tracking import resolve_tracking_uri

    try:
        MlflowClient(resolve_tracking_uri(tracking_uri)).get_run(run_id)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def refiner_signature():
    """Input: one string column; output ``prompt`` + ``refined``; params :data:`PARAMS`.

    The input column is left unnamed: MLflow then takes a list of str (``predict(["a
    dog"])``, ``{"inputs": [...]}``) as well as a DataFrame with a ``prompt`` column (the
    input example's); a named column would refuse the list before ``predict`` sees it.
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string")]),
        outputs=Schema([ColSpec("string", INPUT_COLUMN), ColSpec("string", OUTPUT_COLUMN)]),
        params=ParamSchema([ParamSpec(key, kind, default) for key, (kind, default) in PARAMS.items()]),
    )


def input_example():
    """One prompt with the default params, as the UI and ``serving_input_example.json`` show it.
    MLflow also runs it through the logged model once, to check the model serves."""
    import pandas as pd

    return pd.DataFrame({INPUT_COLUMN: [EXAMPLE_PROMPT]}), {"n": 1, "seed": 0}


def requirements() -> list[str]:
    """The packages a loaded model imports, pinned to this environment's versions (local
    version labels such as ``+cpu`` dropped: pip cannot resolve them)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for package in ("prompt-a-video", "mlflow", "torch", "transformers", "peft", "safetensors", "pandas"):
        try:
            out.append(f"{package}=={version(package).split('+')[0]}")
        except PackageNotFoundError:  # not installed as a distribution (a source checkout): unpinned
            out.append(package)
    return out


# --- the pyfunc's work (called by mlflow_pyfunc.RefinerPythonModel) ----------------------

def refiner_from_context(artifacts: dict[str, str], model_config: dict[str, Any] | None):
    """The ``Refiner`` of a loaded model: its export folder, with the load options of the
    model config (``use``, ``dtype``, ``device``, ``batch_size``; others are refused)."""
    from prompt_a_video.refiner.api import Refiner

    config = dict(model_config or {})
    unknown = sorted(set(config) - set(LOAD_OPTIONS))
    if unknown:
        raise ValueError(f"refiner model: unknown model_config keys {unknown}; expected some of {list(LOAD_OPTIONS)}")
    return Refiner(artifacts[ARTIFACT_KEY], **config)


def prompts_from(model_input: Any) -> list[Any]:
    """The prompts of a predict input: a DataFrame (column ``prompt``, or its only column),
    a list or array of str, a str, or ``{"prompt": [...]}`` (which MLflow passes as a
    one-row DataFrame holding the list). ``Refiner.refine`` checks that each is a str."""
    import pandas as pd

    if isinstance(model_input, dict):
        model_input = pd.DataFrame({key: [value] for key, value in model_input.items()})
    if isinstance(model_input, pd.DataFrame):
        if INPUT_COLUMN in model_input.columns:
            values = model_input[INPUT_COLUMN].tolist()
        elif len(model_input.columns) == 1:
            values = model_input.iloc[:, 0].tolist()
        else:
            raise ValueError(f"refiner model: expected a '{INPUT_COLUMN}' column, got columns "
                             f"{list(model_input.columns)}")
    elif isinstance(model_input, str):
        values = [model_input]
    elif hasattr(model_input, "tolist"):  # a Series or a numpy array
        values = model_input.tolist()
    elif isinstance(model_input, (list, tuple)):
        values = list(model_input)
    else:
        raise TypeError(f"refiner model: expected prompts as a DataFrame with a '{INPUT_COLUMN}' column or a list "
                        f"of str, got {type(model_input).__name__}")
    out: list[Any] = []
    for value in values:  # a cell may hold a list of prompts (the dict form)
        out.extend(value.tolist() if hasattr(value, "tolist") else value if isinstance(value, (list, tuple))
                   else [value])
    return out


def predict_rows(refiner, model_input: Any, params: dict[str, Any] | None = None):
    """``refiner.refine(prompts, n, ...)`` as a DataFrame: one row per rewrite, in order."""
    import pandas as pd

    prompts = prompts_from(model_input)
    options = {key: default for key, (_, default) in PARAMS.items()}
    options.update({key: value for key, value in (params or {}).items() if key in PARAMS and value is not None})
    n = int(options.pop("n"))
    rewrites = refiner.refine(prompts, n, **options)
    rows = [(prompt, text) for prompt, texts in zip(prompts, rewrites) for text in texts]
    return pd.DataFrame(rows, columns=[INPUT_COLUMN, OUTPUT_COLUMN])


# --- loading by URI -------------------------------------------------------------------------

def download_refiner(uri: str, *, tracking_uri: str | None = None, cache: str | os.PathLike | None = None) -> Path:
    """The export folder of an MLflow refiner model, downloaded once into the cache.

    Args:
        uri: ``models:/NAME/VERSION``, ``models:/NAME/latest``, ``models:/NAME@ALIAS``,
            ``models:/<model id>`` or ``runs:/<run id>/<name>`` (a model logged by
            :func:`log_refiner_model`, or an export folder logged as run artifacts).
        tracking_uri: the store (default: ``$MLFLOW_TRACKING_URI``, else
            ``sqlite:///mlruns.db`` in the working directory).
        cache: the cache root (default :func:`prompt_a_video.assets.cache_dir`).

    Returns:
        the export folder inside ``<cache>/mlflow-models/<model>-<key>/``; the key is the
        store, the URI resolved to a version and that version's source, so an alias that
        moves, or a name registered again, is downloaded anew.

    Raises:
        FileNotFoundError: one line naming what is missing (the store, the registered
            model, the version, the run) and where it was looked for.
    """
    import mlflow

    from prompt_a_video.assets import cache_dir
    from prompt_a_video.tracking import resolve_tracking_uri

    store = resolve_tracking_uri(tracking_uri)
    _check_store(uri, store)
    source, identity, label = _resolve(uri, store)
    key = hashlib.sha256("\n".join((store, source, identity)).encode()).hexdigest()[:16]
    folder = cache_dir(cache) / CACHE_FOLDER / f"{label}-{key}"
    if (folder / CACHE_MARKER).is_file():
        return _export_folder(folder, uri)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    try:
        _download(mlflow, uri, source, store, staging)
        (staging / CACHE_MARKER).write_text(json.dumps({
            "uri": uri, "source": source, "identity": identity, "tracking_uri": store,
            "downloaded": _dt.datetime.now().isoformat(timespec="seconds")}, indent=2) + "\n", encoding="utf-8")
        try:
            os.replace(staging, folder)
        except OSError:  # another process finished the same download first: use its copy
            if not (folder / CACHE_MARKER).is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("downloaded %s to %s", uri, folder)
    return _export_folder(folder, uri)


def _check_store(uri: str, store: str) -> None:
    """A sqlite store that does not exist: say so, rather than let MLflow create an empty
    database in the working directory and then not find the model in it."""
    prefix = "sqlite:///"
    if store.startswith(prefix) and store[len(prefix):] != ":memory:" and not Path(store[len(prefix):]).is_file():
        raise FileNotFoundError(f"MLflow model not found: {uri}: no tracking store at {store[len(prefix):]} "
                                "(run where the model was logged, or set MLFLOW_TRACKING_URI to its store)")


def _resolve(uri: str, store: str) -> tuple[str, str, str]:
    """``(URI to download, what makes it that model, a readable folder name)``."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(store, registry_uri=store)
    try:
        if uri.startswith("runs:/"):
            return _resolve_run(client, uri, store)
        return _resolve_registered(client, uri, store)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise FileNotFoundError(f"MLflow model not found: {uri} in the tracking store {store}: "
                                f"{_first_line(exc.message)}") from exc


def _resolve_run(client, uri: str, store: str) -> tuple[str, str, str]:
    rest = uri[len("runs:/"):].strip("/")
    run_id, _, path = rest.partition("/")
    if not run_id or not path:
        raise ValueError(f"MLflow model URI {uri!r}: expected runs:/<run id>/<model name>")
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):  # missing, or not an id
            raise
        raise FileNotFoundError(f"MLflow model not found: {uri}: no run {run_id} in the tracking store {store}") \
            from exc
    name, _, inside = path.partition("/")
    if not inside:  # a logged model of the run, by name: the newest one, as MLflow picks it
        models = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                             filter_string=f"name = '{name}'")
        mine = [m for m in models if m.source_run_id == run_id]
        if mine:
            return f"models:/{mine[0].model_id}", mine[0].model_id, _label(name)
    artifacts = client.list_artifacts(run_id, path)
    if not artifacts:
        raise FileNotFoundError(f"MLflow model not found: {uri}: run {run_id} has no model or artifact {path!r} "
                                f"(`pav export --log_model true` names its model '{MODEL_NAME}')")
    return uri, f"{run_id}/{path}", _label(f"{run_id[:8]}-{path}")


def _resolve_registered(client, uri: str, store: str) -> tuple[str, str, str]:
    rest = uri[len("models:/"):].strip("/")
    if "@" in rest:  # models:/NAME@ALIAS
        name, alias = rest.split("@", 1)
        registered = _registered_model(client, name, uri, store)
        if alias not in (registered.aliases or {}):
            have = ", ".join(sorted(registered.aliases or {})) or "none"
            raise FileNotFoundError(f"MLflow model not found: {uri}: registered model {name!r} has no alias "
                                    f"{alias!r} (aliases: {have})")
        version = client.get_model_version(name, str(registered.aliases[alias]))
    elif "/" in rest:  # models:/NAME/VERSION or models:/NAME/latest
        name, which = rest.rsplit("/", 1)
        registered = _registered_model(client, name, uri, store)
        versions = client.search_model_versions(f"name = '{_quote(name)}'")
        if which.lower() == "latest":
            if not versions:
                raise FileNotFoundError(f"MLflow model not found: {uri}: {name!r} has no versions")
            version = max(versions, key=lambda v: int(v.version))
        else:
            version = next((v for v in versions if str(v.version) == which), None)
            if version is None:
                have = ", ".join(sorted((str(v.version) for v in versions), key=int)) or "none"
                raise FileNotFoundError(f"MLflow model not found: {uri}: registered model {registered.name!r} has "
                                        f"no version {which!r} (versions: {have})")
    else:  # models:/<model id>: a logged model, registered or not
        model = client.get_logged_model(rest)
        return f"models:/{model.model_id}", model.model_id, _label(f"{model.name}-{model.model_id}")
    return (f"models:/{name}/{version.version}", f"{version.source}|{getattr(version, 'model_id', None)}",
            _label(f"{name}-v{version.version}"))


def _registered_model(client, name: str, uri: str, store: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        names = sorted(m.name for m in client.search_registered_models(max_results=50))
        known = f"registered models there: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}" \
            if names else "no model is registered there"
        raise FileNotFoundError(f"MLflow model not found: {uri}: no registered model {name!r} in the tracking store "
                                f"{store} ({known}; `pav export --log_model true --register NAME` registers one)") \
            from exc


def _download(mlflow, uri: str, source: str, store: str, into: Path) -> None:
    """The model's files into ``into`` (its ``MLmodel`` at the top)."""
    from mlflow.exceptions import MlflowException

    try:
        mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(into), tracking_uri=store,
                                            registry_uri=store)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise FileNotFoundError(f"MLflow model not found: {uri}: its files are not in the artifact store "
                                f"({_first_line(exc.message)})") from exc
    # download_artifacts puts a run artifact folder under its own name; a model's files at the top
    entries = [p for p in into.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and not (into / "MLmodel").is_file():
        for child in list(entries[0].iterdir()):
            child.rename(into / child.name)
        entries[0].rmdir()


def _export_folder(folder: Path, uri: str) -> Path:
    """The export folder inside a downloaded model: its pyfunc artifact (named in
    ``MLmodel``), or the folder itself for an export logged as plain run artifacts."""
    import yaml

    mlmodel = folder / "MLmodel"
    if mlmodel.is_file():
        spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
        artifacts = ((spec.get("flavors") or {}).get("python_function") or {}).get("artifacts") or {}
        path = (artifacts.get(ARTIFACT_KEY) or {}).get("path")
        if path is None:
            raise FileNotFoundError(f"MLflow model {uri} is not a refiner logged by `pav export --log_model true` "
                                    f"(its MLmodel has no '{ARTIFACT_KEY}' artifact; flavors: "
                                    f"{', '.join(spec.get('flavors') or {}) or 'none'})")
        return folder / path
    if (folder / "refiner.json").is_file():
        return folder
    raise FileNotFoundError(f"MLflow model {uri} is neither an MLflow model (no MLmodel) nor an export folder "
                            "(no refiner.json)")


def _label(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text)[:80]


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")
