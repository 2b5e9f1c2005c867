"""The compositor: a reference-driven CPU renderer (shots, camera moves and the reference audio); it also
moves between first/last frames (image-to-video) and paints a procedural placeholder (text-to-video).

This file stays light (no OpenCV, no PyAV): the registry reads `CAPABILITIES` in the API's composition root.
"""

from refvid.contract import DEFAULT_DURATION_S, MODES, RESOLUTIONS, TASK_TYPES
from refvid.engines.base import Capabilities

# `duration: -1` (spec §3): the reference videos' total length, else the longest reference audio, else 5 s.
CAPABILITIES = Capabilities(name="compositor", factory="refvid.engines.compositor.engine:CompositorEngine",
                            resolutions=RESOLUTIONS, supports_audio=True, modes=MODES,
                            auto_duration_s=DEFAULT_DURATION_S, makes={
                                "reference": "a composite of your references: shots of the images and videos "
                                             "under camera moves, cut to the audio and graded; no new pixels",
                                "image": "a camera move over the first image, then a short transition to the "
                                         "last; no new pixels",
                                "text": "a placeholder title card: the prompt's words over a moving graded "
                                        "background, not generated video (serve text-to-video with a "
                                        "diffusion engine or the Ark relay for that)",
                            }, placeholder_modes=("text",), task_types=TASK_TYPES)
