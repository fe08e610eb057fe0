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

# The paper's refiner prompt, exactly as its released refiners were trained and are run
# (jiyt17/Prompt-A-Video: booster/finetuning/datasets/custom_dataset.py and
# booster/inference/inference_chat.py): no system turn, one user turn of this task text,
# the original prompt, then "\nNew prompt:\n". It is the interface of their weights, so it
# is reproduced character for character.
PAPER_TASK_PROMPT = (
    "You need to refine user's input prompt. The user's input prompt is used for video generation task. "
    "You need to refine the user's prompt to make it more suitable for the task.\n"
    "You will be prompted by people looking to create detailed, amazing videos. The way to accomplish this "
    "is to take their short prompts and make them extremely detailed and descriptive. You will only ever "
    "output a single video description per user request.\n"
    "You should refactor the entire description to integrate the suggestions. Original prompt:\n"
)
PAPER_USER_TEMPLATE = PAPER_TASK_PROMPT + "{prompt}\nNew prompt:\n"

#: name -> (system prompt or None for no system turn, user template)
PROMPT_FORMATS: dict[str, tuple[str | None, str]] = {
    "default": (DEFAULT_SYSTEM_PROMPT, "{prompt}"),
    "paper": (None, PAPER_USER_TEMPLATE),
}

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
        prompt_format: ``default`` (our system prompt, the user's prompt as the user turn)
            or ``paper`` (the paper's: no system turn, its task text + prompt +
            "New prompt:"; the format its released refiners were trained with). With
            ``paper``, ``system_prompt`` and ``user_template`` are the paper's.
        system_prompt: the refiner's instruction (system message); null: no system turn.
        user_template: the user message; ``{prompt}`` is replaced by the user's prompt.
        lora: a LoRA adapter to train; None trains all weights (fine for small models).
    """

    model: str
    dtype: str = "float32"
    attn_implementation: str | None = None
    gradient_checkpointing: bool = False
    prompt_format: str = "default"
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    user_template: str = "{prompt}"
    lora: LoraSpec | None = field(default_factory=LoraSpec)

    def __post_init__(self) -> None:
        if self.dtype not in _DTYPES:
            raise ValueError(f"backbone.dtype must be one of {_DTYPES}, got {self.dtype!r}")
        if self.prompt_format not in PROMPT_FORMATS:
            raise ValueError(f"backbone.prompt_format must be one of {list(PROMPT_FORMATS)}, got {self.prompt_format!r}")
        if self.prompt_format != "default":
            if (self.system_prompt, self.user_template) not in (PROMPT_FORMATS["default"],
                                                                PROMPT_FORMATS[self.prompt_format]):
                raise ValueError(f"backbone.prompt_format {self.prompt_format!r} sets the system prompt and the "
                                 "user template itself: leave system_prompt and user_template unset")
            self.system_prompt, self.user_template = PROMPT_FORMATS[self.prompt_format]
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
        """The chat of one example: system (unless there is none), user (the prompt),
        optionally the assistant's answer."""
        chat = [] if self.system_prompt is None else [{"role": "system", "content": self.system_prompt}]
        chat.append({"role": "user", "content": self.user_template.replace("{prompt}", prompt)})
        if answer is not None:
            chat.append({"role": "assistant", "content": answer})
        return chat
