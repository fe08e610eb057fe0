"""The text a video was rendered from, for rewards that judge the rewrite itself."""

from __future__ import annotations

from prompt_a_video.video import Video

META_KEY = "prompt"


def rendered_prompts(videos: list[Video]) -> list[str]:
    """``video.meta["prompt"]`` of each video; a ValueError naming the key when one lacks it."""
    out = []
    for video in videos:
        meta = getattr(video, "meta", None)
        text = meta.get(META_KEY) if isinstance(meta, dict) else None
        if not isinstance(text, str):
            raise ValueError(
                f"video.meta[{META_KEY!r}] (the prompt the video was rendered from) is missing or not a "
                f"string (got {type(text).__name__}); the generator must record the prompt it rendered"
            )
        out.append(text)
    return out
