"""``device: auto`` (generators) and ``device: null`` (real rewards) name this process's GPU
with its index: under DDP each rank renders and scores on its own GPU, not all on GPU 0
(diffusers' model CPU offload reads a bare "cuda" as GPU 0)."""

import torch

from prompt_a_video.generators._diffusers_common import resolve_device as generator_device
from prompt_a_video.rewards.real._runtime import resolve_device as reward_device


def test_the_default_device_is_the_current_gpu_by_index(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)  # what Lightning sets on rank 3
    assert generator_device("auto") == "cuda:3"
    assert reward_device(None) == torch.device("cuda:3")
    assert generator_device("cuda:1") == "cuda:1" and reward_device("cpu") == torch.device("cpu")


def test_without_a_gpu_the_default_is_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert generator_device("auto") == "cpu" and reward_device(None) == torch.device("cpu")
