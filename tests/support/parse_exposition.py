"""Parses the Prometheus text format on stdin with prometheus_client's parser (Debian's
python3-prometheus-client) and prints every sample as JSON: [name, labels, value]."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.buffer.read().decode("utf-8")
samples = [
    [s.name, s.labels, repr(s.value)]
    for family in text_string_to_metric_families(text)
    for s in family.samples
]
json.dump(samples, sys.stdout)
