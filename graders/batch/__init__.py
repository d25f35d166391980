"""Provider Batch APIs (OpenAI Batch, Anthropic Message Batches): half price for work that can wait.

Batches only fill the response cache; a normal run afterwards finds every answered sample there and makes
no calls for them. See `graders.batch.jobs`.
"""
