"""Lightning callbacks and the MLflow logger (import the submodules; nothing is re-exported here
so that `import prompt_a_video.callbacks` stays light)."""
