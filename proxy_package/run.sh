#!/bin/sh
# The model proxy's Lambda handler. The Lambda Web Adapter's /opt/bootstrap (AWS_LAMBDA_EXEC_WRAPPER) runs it
# with the function's environment, then waits for the gateway it starts to answer on AWS_LWA_PORT.
# -S and PYTHONPATH: the gateway imports what this package ships and nothing from the runtime's site-packages.
export PYTHONPATH="$LAMBDA_TASK_ROOT"
exec python3 -S -m failover.lambda_app
