"""Reference media: safe fetching, probing, and encoding of outputs."""
