"""Model proxy failover runtime: router core, transports, local gateway and Lambda handler.

The core (`config`, `outcomes`, `health`, `router`) does no I/O; adapters drive it.
"""
