"""Topology report: run a stack program offline and describe what it builds.

`python -m report dev prod` runs each stack under the offline mocks (no cloud
account, no Pulumi CLI) and writes, per stack, a diagram (SVG and Mermaid), an
availability estimate and a monthly cost estimate under docs/report/<stack>/,
plus a side-by-side comparison when given several stacks.
"""
