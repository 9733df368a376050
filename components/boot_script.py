"""The model servers' boot script (EC2 user data): start the model server container, on the GPU when there is one.

Settings build it once to refuse a script EC2 would refuse; the fleet builds the same script for its launch
template. EC2 limits user data to 16 KB "in raw form, before it is base64-encoded" (EC2 User Guide, "Work with
instance user data"; the CreateLaunchTemplate API says the same of `UserData`).
"""

from __future__ import annotations

import shlex
from typing import Sequence

USER_DATA_MAX_BYTES = 16 * 1024


def model_server_user_data(image: str, args: Sequence[str], port: int) -> str:
    """The boot script, as text: pull `image`, then run it on `port` with `args` (already split into words).

    Every word is shell-quoted, so the container gets exactly the words given, whatever they contain.
    """
    quoted_image = shlex.quote(image)
    quoted_args = " ".join(shlex.quote(arg) for arg in args)
    return "\n".join(
        [
            "#!/bin/bash",
            "set -euo pipefail",
            "systemctl enable --now docker",
            'gpu_flags=""',
            'if command -v nvidia-smi >/dev/null 2>&1; then gpu_flags="--gpus all"; fi',
            f"docker pull {quoted_image}",
            # --restart keeps the server up across crashes; the ALB health check replaces the instance if it cannot.
            f"docker run -d --name model-server --restart unless-stopped $gpu_flags -p {port}:{port} {quoted_image} --port {port} {quoted_args}".rstrip(),
            "",
        ]
    )
