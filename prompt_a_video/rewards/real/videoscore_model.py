"""VideoScore's network: Idefics2 with a linear regression head on the last token.

TIGER-Lab/VideoScore(-v1.1) checkpoints are saved by Mantis' ``Idefics2ForSequenceClassification``
(``architectures`` in their config.json): an ``Idefics2Model`` under ``model.*`` (SigLIP
vision tower, perceiver connector, Mistral-7B text model) and ``score = Linear(hidden, 5)``
with bias under ``score.*``. transformers has no such class, so this module defines one
with the same parameter names: ``from_pretrained`` then reads those checkpoints as they are.

Pooling: the head reads the hidden state of each sequence's last real token. Mantis finds
it as "first pad token - 1", which assumes right padding; here it is the last position
where ``attention_mask`` is 1, the same token under right padding and still right under
left padding.

Importing this module imports transformers: import it only when loading the model.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import Idefics2Config, Idefics2Model
from transformers.models.idefics2.modeling_idefics2 import Idefics2PreTrainedModel


class VideoScoreRegressionModel(Idefics2PreTrainedModel):
    """Idefics2 + ``score`` head: inputs of ``Idefics2Processor`` -> ``float [B, num_labels]``."""

    config_class = Idefics2Config

    def __init__(self, config: Idefics2Config) -> None:
        super().__init__(config)
        self.model = Idefics2Model(config)
        self.score = nn.Linear(config.text_config.hidden_size, config.num_labels)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor,
        pixel_values: torch.Tensor,
        pixel_attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=pixel_values,
            pixel_attention_mask=pixel_attention_mask,
            use_cache=False,
        ).last_hidden_state  # [B, S, H]
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        last = (attention_mask.bool() * positions).argmax(dim=-1)  # last real token of each row
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        return self.score(pooled)
