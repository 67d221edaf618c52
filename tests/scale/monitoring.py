"""Prometheus (Debian's package) scraping the instances of the multi-instance test."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from devstack.testing import free_port

from .cluster import Instance, http_status, program, running, stop_process, wait_until

SCRAPE_INTERVAL = 1.0


class Prometheus:
    """A Prometheus server scraping every instance's /metrics every SCRAPE_INTERVAL."""

    def __init__(self, directory: Path, instances: list[Instance]) -> None:
        self.directory = directory
        self.instances = instances
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        targets = ", ".join(f'"127.0.0.1:{instance.port}"' for instance in self.instances)
        return f"""\
global:
  scrape_interval: {int(SCRAPE_INTERVAL * 1000)}ms
  scrape_timeout: {int(SCRAPE_INTERVAL * 900)}ms
scrape_configs:
  - job_name: devstack
    static_configs:
      - targets: [{targets}]
"""

    def start(self) -> Prometheus:
        config = self.directory / "prometheus.yml"
        config.write_text(self.config())
        log = (self.directory / "prometheus.log").open("wb")
        command = [
            program("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.directory / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_until(
            lambda: running(self.process, "prometheus", log) and http_status(self.port, "/-/ready") == 200,
            60,
            "Prometheus ready",
            0.2,
        )
        return self

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector of ``expression`` now."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = json.loads(answer.read())
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def scraped_since(self, moment: float) -> bool:
        """Whether every instance has been scraped, successfully, after ``moment`` (Unix time)."""
        # timestamp() of a plain selector is the scrape's time (of an expression: now)
        scraped = self.query('timestamp(up{job="devstack"})')
        up = self.query('up{job="devstack"}')
        return (
            len(scraped) == len(self.instances)
            and all(float(sample["value"][1]) > moment for sample in scraped)
            and all(sample["value"][1] == "1" for sample in up)
        )

    def wait_scraped_since(self, moment: float, timeout: float = 20.0) -> float:
        return wait_until(lambda: self.scraped_since(moment), timeout, "a Prometheus scrape of every instance", 0.2)

    def stop(self) -> None:
        stop_process(self.process)
