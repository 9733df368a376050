"""A deployed stack as the operational commands reach it: its outputs, checked to be the stack's, and AWS credentials.

Both `python -m ops.failover` and `python -m ops.drill` read the stack's outputs (`pulumi stack output --json`,
or a file), refuse outputs of another stack, and refuse to start without AWS credentials, the same way: one
`refused:` line and exit status 2, before any AWS call (command_line.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import boto3
from botocore.exceptions import CredentialRetrievalError, NoCredentialsError, PartialCredentialsError, ProfileNotFound, SSOError, TokenRetrievalError

from failover.documents import UnreadableDocument, load_json, parse_json

ClientFactory = Callable[[str, str], Any]  # (service, region) -> boto3 client
# What --outputs reads, as a refusal of another file says.
OUTPUTS_EXPECTED = "the output of `pulumi stack output --json`, a JSON object of stack outputs"

# What to do about missing or expired credentials, as the AWS CLI's users do it.
SIGN_IN = "sign in with `aws sso login --profile NAME` and export AWS_PROFILE=NAME, or export AWS_PROFILE for a profile with keys or a role"
# botocore's errors for credentials that cannot be found or no longer work (an SSO session that expired, a profile
# that does not exist); it raises them on the first request unless asked for the credentials first.
_NO_CREDENTIALS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError, ProfileNotFound, SSOError, TokenRetrievalError)


class Refused(Exception):
    """The command does not apply to this stack, region or input; nothing was changed."""


def read_outputs(stack: str, outputs_file: Path | None, run: Callable[..., Any] = subprocess.run, warn: Callable[[str], None] | None = None) -> dict:
    """The stack's outputs from a JSON file, or from the Pulumi CLI; Refused when they cannot be read or are another stack's.

    Outputs name their stack (the `stack` output); a file whose outputs name another stack is refused, since
    acting on it would act on that stack's resources. Outputs exported before that output existed cannot be
    checked: `warn` (default: stderr) is told so, and they are used as given.
    """
    if outputs_file is not None:
        try:
            outputs = load_json(outputs_file, f"--outputs {outputs_file}", OUTPUTS_EXPECTED, kind=dict)
        except UnreadableDocument as unreadable:
            raise Refused(str(unreadable)) from None
        source = f"the outputs in {outputs_file}"
    else:
        command = ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack]
        try:
            result = run(command, capture_output=True, text=True, check=True)
        except FileNotFoundError:
            raise Refused("the pulumi CLI is not installed; pass the outputs with --outputs FILE") from None
        except subprocess.CalledProcessError as error:
            raise Refused(f"`{' '.join(command)}` failed: {error.stderr.strip()}") from None
        try:
            outputs = parse_json(result.stdout, f"what `{' '.join(command)}` printed", "the stack's outputs as a JSON object", kind=dict)
        except UnreadableDocument as unreadable:
            raise Refused(str(unreadable)) from None
        source = f"the outputs of `pulumi stack output --stack {stack}`"
    check_stack(stack, outputs, source, warn or (lambda note: print(f"note: {note}", file=sys.stderr)))
    return outputs


def check_stack(stack: str, outputs: dict, source: str, warn: Callable[[str], None]) -> None:
    """Refused unless the outputs' `stack` is `stack`; `warn` when they carry none (exported by an older program)."""
    named = outputs.get("stack")
    if named is None:
        warn(f"{source} do not name their stack (exported before the `stack` output); make sure they are stack {stack}'s")
    elif named != stack:
        environment = f" (environment {outputs['environment']})" if "environment" in outputs else ""
        raise Refused(f"{source} are of stack {named}{environment}, not stack {stack}: pass --stack {named}, or the outputs of stack {stack}")


def aws_session(session: Callable[[], boto3.session.Session] = boto3.session.Session) -> boto3.session.Session:
    """A boto3 session whose credentials resolve now; Refused, with how to sign in, when none do.

    botocore looks for credentials lazily and reports their absence on the first request ("Unable to locate
    credentials", or an SSO token error when `aws sso login` has expired), and an AWS_PROFILE that names no
    profile when the session is made. Asking for them first turns each into a refusal before any AWS call.
    """
    try:
        found = session()
        credentials = found.get_credentials()
        if credentials is not None:
            credentials.get_frozen_credentials()  # resolves deferred ones (SSO, assumed roles) now
    except _NO_CREDENTIALS as error:
        raise Refused(f"no usable AWS credentials ({error}): {SIGN_IN}") from None
    if credentials is None:
        raise Refused(f"no AWS credentials: {SIGN_IN}")
    return found


def boto3_clients(session: boto3.session.Session) -> ClientFactory:
    """Clients of `session` by (service, region)."""
    return lambda service, region: session.client(service, region_name=region)
