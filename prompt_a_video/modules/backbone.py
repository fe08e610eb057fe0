"""Which causal LM a refiner is, and how it is prompted.

A :class:`CausalLMBackbone` is pure configuration: parsing an experiment YAML builds it
without touching weights. Modules call :meth:`CausalLMBackbone.load_model` in
``configure_model``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The paper's instruction to the refiner, in our words: rewrite for video generation,
# keep the meaning, one description only.
DEFAULT_SYSTEM_PROMPT = (
    "You are a prompt engineer for a text-to-video model. Rewrite the user's prompt into a "
    "single, detailed, video-centric description: the subject's appearance, its action and "
    "motion, the scene, lighting, camera and style. Keep the meaning of the original prompt; "
    "do not add extra scene changes or many simultaneous actions. Reply with the description only."
)

_DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class LoraSpec:
    """A LoRA adapter (PEFT ``LoraConfig``).

    Args:
        r: rank of the update matrices.
        alpha: scaling numerator (effective scale ``alpha / r``).
        dropout: dropout on the adapter input.
        target_modules: module names to adapt, or ``"all-linear"``.
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"

    def to_peft(self):
        from peft import LoraConfig, TaskType

        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=self.target_modules, task_type=TaskType.CAUSAL_LM)


@dataclass
class CausalLMBackbone:
    """An instruct causal LM with a chat template, and the refiner's prompt around it.

    Args:
        model: offline asset name (``smollm2-135m-instruct``), local folder, or hub id.
        dtype: weights dtype: float32 (CPU), bfloat16 or float16 (GPU).
        attn_implementation: ``eager``, ``sdpa``, ``flash_attention_2``; None = library default.
        gradient_checkpointing: trade compute for activation memory.
        system_prompt: the refiner's instruction (system message).
        user_template: the user message; ``{prompt}`` is replaced by the user's prompt.
        lora: a LoRA adapter to train; None trains all weights (fine for small models).
    """

    model: str
    dtype: str = "float32"
    attn_implementation: str | None = None
    gradient_checkpointing: bool = False
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    user_template: str = "{prompt}"
    lora: LoraSpec | None = field(default_factory=LoraSpec)

    def __post_init__(self) -> None:
        if self.dtype not in _DTYPES:
            raise ValueError(f"backbone.dtype must be one of {_DTYPES}, got {self.dtype!r}")
        if "{prompt}" not in self.user_template:
            raise ValueError(f"backbone.user_template must contain '{{prompt}}', got {self.user_template!r}")

    def path(self) -> str:
        from prompt_a_video.assets import resolve_model

        return resolve_model(self.model)

    def load_tokenizer(self):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.path())
        if tokenizer.chat_template is None:
            raise ValueError(f"the tokenizer of {self.model!r} has no chat template; use an instruct model")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer

    def load_model(self):
        """The model, with a fresh LoRA adapter when ``lora`` is set."""
        import torch
        from transformers import AutoModelForCausalLM

        kwargs = {"dtype": getattr(torch, self.dtype)}
        if self.attn_implementation:
            kwargs["attn_implementation"] = self.attn_implementation
        model = AutoModelForCausalLM.from_pretrained(self.path(), **kwargs)
        if self.gradient_checkpointing:
            model.gradient_checkpointing_enable()
            model.config.use_cache = False
        if self.lora is not None:
            from peft import get_peft_model

            if self.gradient_checkpointing:
                model.enable_input_require_grads()
            model = get_peft_model(model, self.lora.to_peft())
        return model

    def messages(self, prompt: str, answer: str | None = None) -> list[dict[str, str]]:
        """The chat of one example: system, user (the prompt), optionally the assistant's answer."""
        chat = [{"role": "system", "content": self.system_prompt},
                {"role": "user", "content": self.user_template.replace("{prompt}", prompt)}]
        if answer is not None:
            chat.append({"role": "assistant", "content": answer})
        return chat
