"""Parses a Weir /metrics page (read from standard input) with Prometheus's own Python
client and prints its samples as JSON: [{"name", "labels", "value"}, ...]. The
OpenMetrics parser refuses anything malformed, so a page it accepts is one Prometheus
can scrape."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.append({"name": s.name, "labels": s.labels, "value": s.value, "type": family.type})
print(json.dumps(samples))
