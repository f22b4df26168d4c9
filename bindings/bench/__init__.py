"""``plait bench``: a benchmark harness for latency budgets and for comparing plait with
its peers. Modules:

- ``histogram``  HDR-style log-linear latency histogram (percentiles, merge, CO correction)
- ``loadgen``    built-in load generator (uvloop, raw keep-alive HTTP/1.1; closed and open loop)
- ``wrk``        wrk driver (generated Lua script, latency distribution read back as JSON)
- ``upstream``   built-in static upstream fixture (``python -m plait.bench.upstream``)
- ``targets``    processes: upstream fixture (built-in or nginx), plait, peers
- ``procstats``  RSS and CPU of a process tree from /proc
- ``budgets``    latency budgets from the command line or YAML
- ``operations`` operations from .graphql files, directories, traffic JSON lines
- ``report``     JSON, Markdown and PNG reports
- ``options``    the command's options (light: the ``plait`` parser imports only this)
- ``runner``     the command itself
"""
from .histogram import Histogram

__all__ = ["Histogram"]
