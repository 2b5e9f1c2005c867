#!/usr/bin/env bash
# Install the SGLang diffusion server the tests start (tests/support/sglang_server.py) into its own virtualenv,
# outside the clone, so a fresh clone on the same machine reuses it:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/refvid/sglang-0.5.23/venv
# Its own virtualenv because sglang's pins (transformers, diffusers, openai…) clash with refvid's. Idempotent: the
# stamp file holds a hash of requirements.txt and the Python version; when it matches, nothing is done. A missing
# or stale stamp (an interrupted install, a changed pin) rebuilds the virtualenv from scratch. Concurrent runs
# wait on one lock. Prints the virtualenv's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
root=${XDG_CACHE_HOME:-$HOME/.cache}/refvid/sglang-0.5.23
venv=$root/venv
stamp=$root/installed.stamp
want=$({ cat "$here/requirements.txt"; "$PY" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)

mkdir -p "$root"
exec 9>"$root/install.lock"
flock 9
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/sglang" ]; then
  echo "$venv"
  exit 0
fi
echo "installing SGLang 0.5.23 into $venv (once per machine; several minutes)" >&2
rm -f "$stamp"
rm -rf "$venv"
"$PY" -m venv "$venv"
if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$here/requirements.txt" \
    >"$root/pip.log" 2>&1; then
  grep -v "is ignored: it is neither a file nor a directory" "$root/pip.log" >&2
  exit 1
fi
# The proof of the install: the server's own modules import (its CPU-only warnings silenced).
"$venv/bin/python" -W ignore -c "import sglang.multimodal_gen.runtime.entrypoints.http_server, diffusers, torchvision"
echo "$want" >"$stamp"
echo "$venv"
