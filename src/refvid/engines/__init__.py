"""Generation engines. Each engine lives in its own module; `registry` routes model ids to them."""
