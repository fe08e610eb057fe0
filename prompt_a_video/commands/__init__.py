"""What the `pav` commands share apart from the library: how they read experiment YAMLs
(:mod:`~prompt_a_video.commands.yaml_paths`) and how they report a user's mistake
(:mod:`~prompt_a_video.commands.errors`).

Nothing here is imported by ``pav --help``: both modules load jsonargparse or yaml only
when a command runs.
"""
