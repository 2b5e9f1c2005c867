"""The OpenAI `/v1/videos` dialect: the shape OpenAI's video API defined, which SGLang, vLLM-Omni, LiteLLM and
the `openai` SDK's `client.videos` still speak, over the same task store, keys, limits and engines as the
FoxAPI and Ark dialects (spec §10)."""
