"""The Ark dialect: ByteDance's own video-generation task wire (`/api/v3/contents/generations/tasks`) over the
same task store, keys, limits and engines as the FoxAPI dialect (spec §9)."""
