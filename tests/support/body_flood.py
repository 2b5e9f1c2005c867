"""`python -m tests.support.body_flood BASE_URL KEY MIB`: one key's big-body flood, from its own process (so that
the client measuring another key's latency does not share a GIL with the sending).

8 concurrent creates, each a JSON body of about MIB MiB whose `image_urls[0]` is a `data:` URL (60: read, then
refused 422, past the image limit; 65: over REFVID_MAX_BODY_BYTES, refused 413 before it is read); prints
"started", then the status codes as one JSON list when all are answered."""

from __future__ import annotations

import json
import sys
import threading

import httpx

MIB = 1024 * 1024


def main(base_url: str, key: str, mib: str) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body = json.dumps({"model": "seedance-2.0-fast-reference-to-video", "prompt": "@Image1", "resolution": "480p",
                       "duration": 4, "image_urls": ["data:image/png;base64," + "A" * (int(mib) * MIB)]}).encode()
    statuses: list[int] = []

    def send() -> None:
        try:
            statuses.append(httpx.post(f"{base_url}/v1/videos/generations", content=body, headers=headers,
                                       timeout=120).status_code)
        except httpx.HTTPError:
            statuses.append(0)

    threads = [threading.Thread(target=send) for _ in range(8)]
    print("started", flush=True)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(statuses), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
