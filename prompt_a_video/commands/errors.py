"""The one place that turns a user's mistake into one line on stderr, and a bug into a traceback.

A user error ends a command with ``pav <command>: <what is wrong>`` (the file and line, or
the option, and what was expected) and exit status 2, the status argparse gives a bad
command line. ``--debug`` anywhere on the command line, or ``PAV_DEBUG=1``, shows the
traceback instead.

What counts as a user error, and why (:func:`user_error_message`):

- ``DataFormatError`` / ``InvalidRecord``: a data file that does not fit its format; the
  readers already name the file and line.
- ``FileNotFoundError``, ``IsADirectoryError``, ``NotADirectoryError``,
  ``FileExistsError``, ``PermissionError``: a path the user gave is missing, of the wrong
  kind, already there or not theirs to use; the message names the path. (Other
  ``OSError``s, a full disk or a dead socket, keep their traceback.)
- ``json.JSONDecodeError``: a JSON file that is not JSON; the file is named when the
  code that read it holds its path.
- ``yaml.YAMLError``: a YAML that is not YAML (the ``-c`` files are named with their line
  by :mod:`~prompt_a_video.commands.yaml_paths`).
- jsonargparse's ``ArgumentError``: an unknown option or key, a value of the wrong type, a
  missing required option, in a ``-c`` file or on the command line. An unknown name comes
  with the closest valid one (``did you mean --trainer.max_steps?``), from the parser that
  refused it or the class (``class_path``) whose init arguments it is not among.
- ``SystemExit("pav <command>: ...")`` raised by the command itself: its message, written
  for the user (exit 2 like the rest, not Python's 1).
- ``ExampleTooLongError``: a training example longer than ``max_length``, a setting.
- Lightning's ``MisconfigurationException``: Lightning's word for a bad trainer setting.
- ``ValueError`` / ``TypeError`` raised by a ``raise`` statement in this package: our
  own validation of settings and inputs (``EvolutionLoop.top_k must be an int >= 1``),
  also when jsonargparse wraps it while it builds a component from the config.

Everything else is a bug and keeps its traceback: an ``AttributeError`` or ``KeyError``
anywhere, a ``RuntimeError`` (this package raises those for broken invariants, such as a
generator returning fewer videos than prompts), and a ``ValueError`` or ``TypeError`` that
Python or a library raised (``too many values to unpack``, a tensor shape), even inside
this package's code: no one chose those words for a user.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

#: The exit status of a user error (argparse's for a bad command line).
USER_ERROR_STATUS = 2

DEBUG_FLAG = "--debug"
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
_DEBUG: ContextVar[bool] = ContextVar("pav_debug", default=False)

_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError, PermissionError)


def split_debug_flag(argv: list[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--debug``, and whether a traceback is wanted (the flag or PAV_DEBUG=1)."""
    rest = [arg for arg in argv if arg != DEBUG_FLAG]
    return rest, len(rest) < len(argv) or os.environ.get("PAV_DEBUG", "") not in ("", "0")


def debug_wanted() -> bool:
    """Whether this command shows tracebacks (``--debug``, or PAV_DEBUG=1 in the environment)."""
    return _DEBUG.get() or split_debug_flag([])[1]


def run_command(command: str, call: Callable[[], Any], *, debug: bool = False) -> int:
    """Run a command's ``call``: 0 when it returns, 2 and one line on stderr on a user error;
    a bug (or any error under ``debug``) is raised with its traceback."""
    import gc

    token = _DEBUG.set(debug)
    try:
        call()
        return 0
    except SystemExit as stop:
        message = None if debug else _own_exit_message(stop, command)
        if message is None:  # a status (0, or 2 after parse_errors_exit reported), or --debug
            raise
    except Exception as exc:
        message = None if debug else user_error_message(exc, command)
        if message is None:
            raise
    finally:
        _DEBUG.reset(token)
    # The failed frames are gone now; collecting them closes the progress bars they held,
    # which print their last state to stderr: our line must come after, as the last one.
    gc.collect()
    report(command, message)
    return USER_ERROR_STATUS


def _own_exit_message(stop: SystemExit, command: str) -> str | None:
    """The message of a command's ``raise SystemExit("pav <command>: ...")``: a user error
    worded by the command, reported like the others (last line, exit 2, not Python's 1)."""
    prefix = f"pav {command}: "
    if isinstance(stop.code, str) and stop.code.startswith(prefix):
        return _one_line(stop.code[len(prefix):])
    return None


@contextlib.contextmanager
def parse_errors_exit(command: str, args: list[str]) -> Iterator[None]:
    """Around a jsonargparse parse (``exit_on_error=False``): a bad option or key ends the
    command as jsonargparse itself would (``SystemExit(2)``), with one line instead of the
    usage text."""
    from jsonargparse import ArgumentError

    try:
        yield
    except ArgumentError as exc:
        if debug_wanted():
            raise
        report(command, f"{argument_error_line(exc, args)}; see `pav {command} --help`")
        raise SystemExit(USER_ERROR_STATUS) from None


def report(command: str, message: str) -> None:
    """Print ``pav <command>: <message>`` as the last line on stderr."""
    sys.stdout.flush()
    print(f"pav {command}: {message}", file=sys.stderr, flush=True)


def user_error_message(exc: BaseException, command: str = "") -> str | None:
    """The one line that tells the user what to fix, or None when ``exc`` is a bug."""
    message = _describe(exc)
    if message is None:
        return None
    message = " ".join(part.strip() for part in message.splitlines() if part.strip())
    for prefix in (f"pav {command}: ", f"{command}: "):  # library messages often start with the stage's name
        if command and message.startswith(prefix):
            return message[len(prefix):]
    return message


def _describe(exc: BaseException) -> str | None:
    import json

    from prompt_a_video.data.errors import DataFormatError, InvalidRecord

    if isinstance(exc, (DataFormatError, InvalidRecord)):
        return str(exc)
    if isinstance(exc, _OS_ERRORS):
        return _os_error_line(exc)
    if isinstance(exc, json.JSONDecodeError):
        return _json_error_line(exc)
    if _is_instance(exc, "yaml", "YAMLError"):
        return _yaml_error_line(exc)
    if _is_instance(exc, "argparse", "ArgumentError"):  # what jsonargparse raises
        return argument_error_line(exc, [])
    if any(cls.__name__ in ("ExampleTooLongError", "MisconfigurationException") for cls in type(exc).__mro__):
        return str(exc)
    if isinstance(exc, (ValueError, TypeError)) and raised_on_purpose_here(exc):
        return str(exc)
    if exc.__cause__ is not None and _raised_in(exc, "jsonargparse"):
        # jsonargparse wraps what the classes it instantiates raise: the cause decides
        return _describe(exc.__cause__)
    return None


def _is_instance(value: Any, module: str, name: str) -> bool:
    # Only modules already imported can have made it: no import for the check.
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(value, getattr(loaded, name))


def raised_on_purpose_here(exc: BaseException) -> bool:
    """Whether ``exc`` came from a ``raise`` statement in this package (a message written
    for a user), not from Python or a library called here (a bug)."""
    import dis

    tb = _innermost(exc)
    if tb is None or not _in_package(tb.tb_frame.f_code.co_filename):
        return False
    code = tb.tb_frame.f_code.co_code
    return 0 <= tb.tb_lasti < len(code) and dis.opname[code[tb.tb_lasti]] == "RAISE_VARARGS"


def _raised_in(exc: BaseException, package: str) -> bool:
    tb = _innermost(exc)
    return tb is not None and f"{os.sep}{package}{os.sep}" in tb.tb_frame.f_code.co_filename


def _innermost(exc: BaseException):
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb


def _in_package(filename: str) -> bool:
    return os.path.realpath(filename).startswith(_PACKAGE_DIR + os.sep)


def _os_error_line(exc: OSError) -> str:
    if exc.filename is None:  # our own message, which names the path
        return str(exc)
    what = (exc.strerror or type(exc).__name__).lower()
    target = f" -> {exc.filename2}" if exc.filename2 else ""
    return f"{exc.filename}{target}: {what}"


def _json_error_line(exc: Any) -> str:
    where = f"line {exc.lineno} column {exc.colno}"
    source = _file_being_read(exc)
    if source is not None and source not in exc.msg:
        return f"{source}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})"
    return f"not valid JSON: {exc.msg} ({where})"


def _file_being_read(exc: BaseException) -> str | None:
    """The JSON file that a frame of this package held when ``exc`` was raised (innermost
    frame first): the code that reads a file keeps its path in a variable."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        if not _in_package(frame.f_code.co_filename):
            continue
        for value in frame.f_locals.values():
            if (isinstance(value, (str, Path)) and str(value).lower().endswith((".json", ".jsonl"))
                    and len(str(value)) < 4096 and os.path.isfile(value)):
                return str(value)
    return None


def _yaml_error_line(exc: Any) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or problem is None:  # our own (ExperimentYAMLError) or a plain YAMLError
        return str(exc)
    name = "" if mark.name.startswith("<") else f"{mark.name}:"
    return f"{name}{mark.line + 1}: not valid YAML: {problem}{yaml_context(exc)}"


def yaml_context(exc: Any) -> str:
    """`` (while parsing a flow sequence from line 2)``: what the YAML parser was reading,
    and where it began when that is not the line of the problem (an unclosed ``[`` is found
    at the end of the file)."""
    context = getattr(exc, "context", None)
    if not context:
        return ""
    began, mark = getattr(exc, "context_mark", None), getattr(exc, "problem_mark", None)
    if began is not None and (mark is None or began.line != mark.line):
        return f" ({context} from line {began.line + 1})"
    return f" ({context})"


# --- jsonargparse's messages, one line each -------------------------------------------------

_PARSER_KEY = re.compile(r'Parser key "([^"]+)":(.*)', re.DOTALL)
_NOT_ACCEPTED = re.compile(r"Option '([^']+)' is not accepted|Subcommand '[^']+' does not accept option '([^']+)'")
_EXPECTED = re.compile(r"Expected a (.+?)\. Got value: (.*)", re.DOTALL)
_CLASS_PATH = re.compile(r"Problem with given class_path '([^']+)':(.*)", re.DOTALL)
_UNION = "Does not validate against any of the Union subtypes"


def argument_error_line(exc: BaseException, args: list[str]) -> str:
    """jsonargparse's multi-line message as ``[FILE:LINE: ]key: what was expected``.

    ``args`` (the command line) tells which ``-c`` file set a bad key, when the key was
    not given on the command line itself.
    """
    message = str(exc).strip()
    if message.startswith("Problems parsing config: "):  # a -c file that is not YAML
        return _one_line(message[len("Problems parsing config: "):])
    required = re.match(r"the following arguments are required: (.*)", message)
    if required:
        names = ", ".join(f"--{name.strip()}" for name in required[1].split(","))
        return f"missing required option {names}"
    given = _unrecognized(message)
    if given:  # options typed on the command line that no parser knows
        return "; ".join(f"{option}: not an option{_did_you_mean_option(exc, args, option)}" for option in given)
    key, detail = _key_and_detail(message)
    if key is None:
        return _one_line(message)
    unknown = _unknown_key(message)
    nested = [f"{key}.init_args.{unknown[1]}"] if unknown and unknown[0] else []
    where = next(filter(None, (_file_setting(k, args) for k in [*nested, key])), None)
    line = f"{where}: {key}: {detail}" if where else f"{key}: {detail}"
    return line + (_did_you_mean(exc, args, *unknown) if unknown else "")


def _key_and_detail(message: str) -> tuple[str | None, str]:
    match = _PARSER_KEY.match(message)
    if match:
        detail = _block(match[2])
        missing = re.match(r"File does not exist: '(.*)'", detail)
        if match[1] == "config" and missing:
            return f"-c {missing[1]}", "file not found"
        return match[1], _detail(detail)
    match = _NOT_ACCEPTED.match(message)
    if match:
        return match[1] or match[2], "not an option"
    given = _unrecognized(message)
    if given:  # inside a class_path: the class's parser names what it was given as options
        return ", ".join(option.lstrip("-") for option in given), "not an option"
    return None, message


def _unrecognized(message: str) -> list[str]:
    """The options of argparse's ``unrecognized arguments: --a 1 --b=2`` (``--a``, ``--b``);
    none when a bare word is among them (then the message says more as it is)."""
    match = re.match(r"unrecognized arguments: (.*)", message.strip(), re.DOTALL)
    if not match:
        return []
    words = match[1].split()
    options = [word.split("=", 1)[0] for word in words if word.startswith("-")]
    return options if options and words[0].startswith("-") else []


def _detail(text: str) -> str:
    """What was wrong with one key's value, from jsonargparse's nested explanation."""
    if text.startswith("- "):  # the ways jsonargparse tried to read the value, one per bullet
        tried = [b for b in _bullets(text) if not _uninformative(b)]
        return _detail(tried[0]) if tried else _one_line(text)
    if text.startswith(_UNION):
        errors = re.search(r"^Errors:\n(.*?)^Given value type:", text, re.DOTALL | re.MULTILINE)
        tried = [b for b in _bullets(_block(errors[1])) if not _uninformative(b)] if errors else []
        if len(tried) == 1 and (_CLASS_PATH.match(tried[0]) or _EXPECTED.match(tried[0])):
            return _detail(tried[0])  # the one reading that says more than "Expected a list"
        subtypes = re.search(r"^Subtypes: \[(.*)\]", text, re.MULTILINE)
        given = re.search(r"^Given value: (.*)", text, re.MULTILINE)
        expected = " or ".join(_type_name(t) for t in _split_types(subtypes[1])) if subtypes else "another type"
        return f"expected {expected}, got {given[1].strip()!r}" if given else f"expected {expected}"
    match = _EXPECTED.match(text)
    if match:
        return f"expected {_type_name(match[1])}, got {match[2].strip()!r}"
    match = _CLASS_PATH.match(text)
    if match:
        class_path, (key, inner) = match[1], _key_and_detail(_block(match[2]))
        if key is None:
            return f"{class_path}: {_one_line(inner)}"
        if inner == "not an option":
            return f"{key} is not an option of {class_path}"
        return f"{key} of {class_path}: {inner}"
    return _one_line(text)


def _uninformative(bullet: str) -> bool:
    # what jsonargparse also tried, and says of every value it could not read
    return bullet.startswith(("Expected a <class 'NoneType'>", "Expected a path but"))


def _block(text: str) -> str:
    """An indented block of a message, dedented, without its surrounding blank lines."""
    import textwrap

    return textwrap.dedent(text.strip("\n")).strip()


def _bullets(text: str) -> list[str]:
    """The top-level ``- item`` entries of a block, each with its indented continuation."""
    items: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("- "):
            items.append([line[2:]])
        elif items:
            items[-1].append(line)
    return [first + ("\n" + _block("\n".join(rest)) if rest else "") for first, *rest in items]


def _split_types(text: str) -> list[str]:
    """``list[int], <class 'NoneType'>`` -> its two types (commas inside brackets kept)."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char in "[(<") - (char in "])>")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in [*parts, current] if p.strip()]


def _type_name(text: str) -> str:
    text = re.sub(r"<class '(?:builtins\.)?([^']+)'>", r"\1", text.strip())
    return {"NoneType": "null"}.get(text, text)


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _file_setting(key: str, args: list[str]) -> str | None:
    """``FILE:LINE`` of the last ``-c`` file that sets ``key``, unless the command line sets it."""
    top = key.split(".")[0]
    if any(arg == f"--{key}" or arg.startswith((f"--{key}=", f"--{top}.", f"--{top}=")) or arg == f"--{top}"
           for arg in args):
        return None
    for file in reversed(_config_files(args)):
        line = _line_of_key(file, key)
        if line is not None:
            return f"{file}:{line}"
    return None


def _config_files(args: list[str]) -> list[str]:
    files = []
    for i, arg in enumerate(args):
        if arg in ("-c", "--config") and i + 1 < len(args):
            files.append(args[i + 1])
        elif arg.startswith("--config="):
            files.append(arg.split("=", 1)[1])
    return [f for f in files if os.path.isfile(f)]


def _line_of_key(file: str, key: str) -> int | None:
    """The 1-based line of a dotted ``key`` in a YAML mapping, or None."""
    import yaml

    try:
        node = yaml.compose(Path(file).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    line = None
    for part in key.split("."):
        if not isinstance(node, yaml.MappingNode):
            return None
        found = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
        if found is None:
            return None
        line, node = found[0].start_mark.line + 1, found[1]
    return line


# --- "did you mean": the closest valid option name -------------------------------------------

_SUGGESTION_CUTOFF = 0.7  # difflib's similarity: 0.7 takes a typo or two, not a different word
_CLASS_PATH_ANYWHERE = re.compile(r"Problem with given class_path '([^']+)':")


def _unknown_key(message: str) -> tuple[str | None, str] | None:
    """``(class_path, key)`` of the unknown key a jsonargparse message reports, innermost
    first; ``class_path`` is None for an option of the command's own parser."""
    classes = _CLASS_PATH_ANYWHERE.findall(message)
    refused = _NOT_ACCEPTED.search(message)
    if refused:
        return (classes[-1] if classes else None), (refused[1] or refused[2])
    inner = re.search(r"unrecognized arguments: (--?[^\s=]+)", message)
    if inner and classes:
        return classes[-1], inner[1].lstrip("-")
    return None


def _did_you_mean(exc: BaseException, args: list[str], class_path: str | None, key: str) -> str:
    """`` (did you mean lr?)`` for a ``key`` that ``class_path`` (None: the command's own
    parser) does not take, or ``""``; written as the user wrote the key: the option typed
    on the command line with its end corrected, else the key as in the YAML."""
    names = _class_options(class_path) if class_path else _parser_options(exc, args)
    close = _closest(key, names)
    if close is None:
        return ""
    typed = next((option for option in (a.split("=", 1)[0] for a in args)
                  if option == f"--{key}" or (option.startswith("--") and option.endswith(f".{key}"))), None)
    return f" (did you mean {typed[:len(typed) - len(key)] + close if typed else close}?)"


def _did_you_mean_option(exc: BaseException, args: list[str], typed: str) -> str:
    """`` (did you mean --trainer.max_steps?)`` for an option typed on the command line."""
    close = _closest(typed.lstrip("-"), _parser_options(exc, args))
    return f" (did you mean --{close}?)" if close else ""


def _closest(key: str, names: list[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(key, names, n=1, cutoff=_SUGGESTION_CUTOFF)
    return close[0] if close else None


def _option_names(parser) -> list[str]:
    skip = ("help", "print_config", "config")
    names = {s[2:] for action in parser._actions for s in action.option_strings if s.startswith("--")}
    return sorted(n for n in names if n not in skip and not n.endswith(".help"))


def _parser_options(exc: BaseException, args: list[str]) -> list[str]:
    """The option names of the parser that raised ``exc`` (the parser of its subcommand,
    for `pav fit`), found in the traceback: the parser is not in the message."""
    parser, tb = None, exc.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if _is_instance(candidate, "jsonargparse", "ArgumentParser"):
            parser = candidate
        tb = tb.tb_next
    if parser is None:
        return []
    subcommands = getattr(parser, "_subcommands_action", None)
    if subcommands is not None:
        chosen = next((a for a in args if a in subcommands.choices), None)
        return _option_names(subcommands.choices[chosen]) if chosen else []
    return _option_names(parser)


def _class_options(class_path: str) -> list[str]:
    """The init arguments of ``class_path`` as jsonargparse names them (``backbone.lora``)."""
    from importlib import import_module

    from jsonargparse import ArgumentParser

    module, _, name = class_path.rpartition(".")
    try:
        cls = getattr(import_module(module), name)
        parser = ArgumentParser(exit_on_error=False)
        parser.add_class_arguments(cls, fail_untyped=False)
    except Exception:  # noqa: BLE001  a suggestion is a nicety: never a second error
        return []
    return _option_names(parser)
