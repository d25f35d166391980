"""An in-process Hugging Face chat model, for graders or teachers that run locally.

Concurrent requests are gathered into batches and run through one `generate` call each (left padding,
KV cache), in a worker thread so the event loop stays free. Requests batch together only when their
sampling parameters match, since `generate` takes one set per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from graders.chat_generation import ChatGenerator
from graders.interface import Completion, Message, SamplingParams, Usage
from skillmix.errors import InputError


@dataclass
class _Pending:
    messages: Sequence[Message]
    params: SamplingParams
    num_samples: int
    future: asyncio.Future[Completion] = field(repr=False)


class HuggingFaceBackend:
    """A local chat model answering through batched `generate` calls.

    Args:
        model: A local folder or hub id that `from_pretrained` can load; it must ship a chat template.
        batch_size: Most prompts per `generate` call.
        device: Where the model runs ("cpu", "cuda", "cuda:1", ...).
        dtype: Weights dtype ("auto" keeps the checkpoint's).
        max_samples_per_call: Most samples (`num_return_sequences`) per prompt in one call.
    """

    provider = "hf"
    base_url = ""

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 8,
        device: str = "cpu",
        dtype: str = "auto",
        max_samples_per_call: int = 8,
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.max_samples_per_call = max_samples_per_call
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        if self.tokenizer.chat_template is None:
            raise InputError(f"{model}: the tokenizer has no chat template; pick a chat model")
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
        self.device = torch.device(device)
        self.network = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype)
        self.network.to(self.device)  # type: ignore[arg-type]  # transformers types `to` as unbound
        self.network.eval()
        self.chat = ChatGenerator(self.network, self.tokenizer, model_name_or_path=model)
        self._pending: list[_Pending] = []
        self._worker: asyncio.Task[None] | None = None

    async def complete(
        self, messages: Sequence[Message], params: SamplingParams, num_samples: int, timeout: float | None
    ) -> Completion:
        loop = asyncio.get_running_loop()
        pending = _Pending(messages, params, num_samples, loop.create_future())
        self._pending.append(pending)
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await pending.future

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let requests dispatched in the same tick join the first batch
        while self._pending:
            first = self._pending[0]
            batch = [
                p for p in self._pending if (p.params, p.num_samples) == (first.params, first.num_samples)
            ][: self.batch_size]
            for item in batch:
                self._pending.remove(item)
            batch = [item for item in batch if not item.future.done()]
            if not batch:
                continue
            try:
                completions = await asyncio.to_thread(
                    self.generate_batch, [item.messages for item in batch], first.params, first.num_samples
                )
            except Exception as error:  # handed to every waiting caller, who re-raises it
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            for item, completion in zip(batch, completions, strict=True):
                if not item.future.done():
                    item.future.set_result(completion)

    @torch.inference_mode()
    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], params: SamplingParams, num_samples: int
    ) -> list[Completion]:
        """One left-padded `generate` call for all conversations; `num_samples` texts for each."""
        sampling: dict[str, object] = {"do_sample": bool(params.temperature)}
        if params.temperature:
            sampling["temperature"] = params.temperature
            if params.top_p is not None:
                sampling["top_p"] = params.top_p
        replies = self.chat.replies(
            conversations,
            max_new_tokens=params.max_tokens,
            sampling=sampling,
            seed=params.seed,
            num_return_sequences=num_samples,
        )
        return [
            Completion(
                tuple(r.text for r in rows),
                Usage(rows[0].prompt_tokens, sum(r.tokens for r in rows)),
                model=self.model,
            )
            for rows in replies
        ]

    async def aclose(self) -> None:
        if self._worker is not None:
            await self._worker
