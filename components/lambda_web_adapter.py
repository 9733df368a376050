"""The AWS Lambda Web Adapter (aws/aws-lambda-web-adapter, formerly awslabs/): its published layer and settings.

The adapter lets a Lambda function run an ordinary web app and stream its answers: the layer's
`/opt/bootstrap` (set as `AWS_LAMBDA_EXEC_WRAPPER`) runs the function's handler script, which
starts the app; the adapter waits until the app answers its readiness check, then sends it each
invocation as an HTTP request and, in `response_stream` mode, streams the answer back to the
function URL as the app writes it.

Rules, from the adapter's README, docs/guide (getting-started/zip-packages.md,
configuration/environment-variables.md, readiness-check.md, response-streaming.md) and
.github/workflows/prod.json at v1.0.0 (2026-03-27):
- The layer is published by account 753240598075 as
  `arn:aws:lambda:<region>:753240598075:layer:LambdaAdapterLayer{X86|Arm64}:<version>`, version 27
  for v1.0.0, in the commercial regions of prod.json only (China has other accounts and x86_64
  only; GovCloud has none).
- The readiness check counts any status from 100 to 499 as ready by default, so a path the app
  does not serve (404) passes by accident: check `/health` and accept 200 only.
- The app must not listen on port 9001 (Lambda's Runtime API) or 3000 (CloudWatch Lambda
  Insights), nor below 1024; 8080 is the adapter's default.
- Compression is not available with response streaming; `AWS_LWA_ERROR_STATUS_CODES` stays
  unset, so an error answer (a 503 with Retry-After) reaches the caller as the app wrote it.
"""

from __future__ import annotations

LAYER_ACCOUNT = "753240598075"
LAYER_VERSION = 27  # v1.0.0
LAYER_NAMES = {"arm64": "LambdaAdapterLayerArm64", "x86_64": "LambdaAdapterLayerX86"}
ARCHITECTURES = tuple(LAYER_NAMES)
# Regions the adapter's release workflow publishes both layers to (.github/workflows/prod.json).
LAYER_REGIONS = frozenset(
    {
        "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
        "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
        "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1",
        "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1",
        "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
    }
)  # fmt: skip
EXEC_WRAPPER = "/opt/bootstrap"
PORT = 8080
READINESS_PATH = "/health"


def layer_arn(region: str, architecture: str) -> str:
    """The adapter layer for a function in `region` built for `architecture` (arm64 or x86_64).

    Raises ValueError for a region the layer is not published in or an unknown architecture;
    settings refuse both earlier, naming the setting.
    """
    if region not in LAYER_REGIONS:
        raise ValueError(f"the Lambda Web Adapter layer is not published in {region}")
    if architecture not in LAYER_NAMES:
        raise ValueError(f"the Lambda Web Adapter has no layer for architecture {architecture!r}; expected one of {ARCHITECTURES}")
    return f"arn:aws:lambda:{region}:{LAYER_ACCOUNT}:layer:{LAYER_NAMES[architecture]}:{LAYER_VERSION}"


def streaming_environment() -> dict[str, str]:
    """Environment variables that make the adapter start the handler and stream the app's answers."""
    return {
        "AWS_LAMBDA_EXEC_WRAPPER": EXEC_WRAPPER,
        "AWS_LWA_INVOKE_MODE": "response_stream",  # must match the function URL's RESPONSE_STREAM
        "AWS_LWA_PORT": str(PORT),
        "AWS_LWA_READINESS_CHECK_PATH": READINESS_PATH,
        "AWS_LWA_READINESS_CHECK_HEALTHY_STATUS": "200",
    }
