"""Model proxy failover runtime: router core, endpoint rules, aiohttp transport, and the gateway that serves it locally and in Lambda.

The core (`config`, `outcomes`, `health`, `router`) does no I/O; adapters drive it.
"""
