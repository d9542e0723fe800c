"""CloudWatch's embedded metric format (EMF) rules, as a checker for the workers' metric lines
(unit tests on records, integration tests on a real worker's log)."""

from __future__ import annotations

from typing import Any

EMF_UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Count", "Percent", "None"}


def emf_problems(record: dict[str, Any]) -> list[str]:
    """What makes `record` something CloudWatch would not turn into metrics (empty: valid EMF):
    the `_aws` directive with an integer millisecond Timestamp, every metric it names a top-level
    number with a known unit, every dimension a top-level string."""
    problems = []
    directive = record.get("_aws")
    if not isinstance(directive, dict):
        return ["no _aws object"]
    timestamp = directive.get("Timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 10**12:
        problems.append(f"Timestamp {timestamp!r} is not epoch milliseconds as an integer")
    sets = directive.get("CloudWatchMetrics")
    if not isinstance(sets, list) or not sets:
        return [*problems, "CloudWatchMetrics is not a non-empty list"]
    for metric_set in sets:
        if not isinstance(metric_set.get("Namespace"), str) or not metric_set["Namespace"]:
            problems.append("a metric set has no Namespace")
        for dimension_set in metric_set.get("Dimensions", []):
            for dimension in dimension_set:
                if not isinstance(record.get(dimension), str):
                    problems.append(f"dimension {dimension!r} is not a top-level string")
        names = [m.get("Name") for m in metric_set.get("Metrics", [])]
        if len(names) != len(set(names)):
            problems.append("a metric is declared twice")
        for metric in metric_set.get("Metrics", []):
            value = record.get(metric.get("Name"))
            if not isinstance(value, int | float) or isinstance(value, bool):
                problems.append(f"metric {metric.get('Name')!r} is not a top-level number")
            if metric.get("Unit") not in EMF_UNITS:
                problems.append(f"metric {metric.get('Name')!r} has unit {metric.get('Unit')!r}")
    return problems
