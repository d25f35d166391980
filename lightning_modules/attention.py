"""The SDPA kernels that attention may use where the choice matters: left-padded generation.

Training passes no padding mask (its batches are right-padded), so SDPA runs its `is_causal` kernels
(FlashAttention or cuDNN) and this module does not apply there. Generation left-pads its prompts, and
then the query row of every pad position has all of its keys masked. transformers 5 no longer unmasks such
rows before calling SDPA, so what they return is up to the kernel: the memory-efficient and math kernels
return zeros (PyTorch >= 2.5; so do the CPU kernels), while cuDNN attention with a mask tensor has returned
NaN on H100/H200 (pytorch/pytorch#196678 for one case). A NaN there does not stay in its row: the next
layer multiplies it, as a value, by an attention weight of exactly 0 for every real token, and 0 x NaN is
NaN. So generation chooses the kernels explicitly: memory-efficient, with math as the fallback (and the
only one on CPU). FlashAttention takes no arbitrary mask, so it is never a candidate there anyway.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from torch.nn.attention import SDPBackend, sdpa_kernel

GENERATION_SDPA_BACKENDS = [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
"""The kernels left-padded generation may use, in order of preference."""


def generation_attention() -> AbstractContextManager[None]:
    """A context in which SDPA uses only the kernels that return zeros for fully masked query rows."""
    return sdpa_kernel(GENERATION_SDPA_BACKENDS)
