"""ops/: the dashboard and the alert rules query metrics the services really export
(common_py.metrics), with the labels those metrics really have; Prometheus scrapes every service
the compose file runs, at the port its image listens on."""

import json
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from common_py import metrics
from opsparse import REPO, SERVICES, promql_grouping_labels, promql_selectors

DASHBOARD = json.loads((REPO / "ops/grafana-dashboards/pipeline.json").read_text())
RULES_FILE = REPO / "ops/prom-rules/pipeline.yml"
RULES = [r for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]]
PROMETHEUS = yaml.safe_load((REPO / "ops/prometheus.yml").read_text())
COMPOSE = yaml.safe_load((REPO / "docker-compose.dev.yml").read_text())["services"]
TARGET_LABELS = {"job", "instance"}  # Prometheus adds these to every scraped series


def exported() -> dict[str, tuple[str, set[str]]]:
    """Sample name -> (metric, label names) for every metric in common_py.metrics, plus `up`."""
    out = {"up": ("up", set())}
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_sum", "_count"]}[obj._type]
            for suffix in suffixes:
                out[obj._name + suffix] = (obj._name, set(obj._labelnames) | ({"le"} if suffix == "_bucket" else set()))
    return out


EXPORTED = exported()
DASHBOARD_EXPRS = [(p["title"], t["expr"]) for p in DASHBOARD["panels"] for t in p.get("targets", [])]
RULE_EXPRS = [(r["alert"], r["expr"]) for r in RULES]


def check_expr(where: str, expr: str) -> set[str]:
    """Asserts every selector names an exported metric and only labels it has; returns the metrics."""
    used, labels_available = set(), set(TARGET_LABELS)
    selectors = promql_selectors(expr)
    assert selectors, f"{where}: no metric in {expr!r}"
    for name, labels in selectors:
        assert name in EXPORTED, f"{where}: {name} is not a metric the services export ({expr})"
        metric, metric_labels = EXPORTED[name]
        unknown = labels - metric_labels - TARGET_LABELS
        assert not unknown, f"{where}: {name} has no label(s) {unknown}"
        used.add(metric)
        labels_available |= metric_labels
    unknown = promql_grouping_labels(expr) - labels_available
    assert not unknown, f"{where}: groups by {unknown}, which none of its metrics has ({expr})"
    return used


def test_the_checker_rejects_what_prometheus_would_not_find():
    with pytest.raises(AssertionError, match="not a metric"):
        check_expr("t", "rate(events_count[5m])")
    with pytest.raises(AssertionError, match="no label"):
        check_expr("t", 'sum(rate(events_total{routing_key="x"}[5m]))')
    with pytest.raises(AssertionError, match="groups by"):
        check_expr("t", "sum by (queue) (phase_state)")


def test_dashboard_is_a_grafana_dashboard_on_the_provisioned_datasource():
    provisioned = yaml.safe_load((REPO / "ops/grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert DASHBOARD["uid"] and DASHBOARD["title"] and len(ids) == len(set(ids))
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"]["uid"] == uid and panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    dashboards = yaml.safe_load((REPO / "ops/grafana/provisioning/dashboards/pipeline.yml").read_text())
    mount = next(v for v in COMPOSE["grafana"]["volumes"] if v.startswith("./ops/grafana-dashboards:"))
    assert dashboards["providers"][0]["options"]["path"] == mount.split(":")[1]


@pytest.mark.parametrize("title,expr", DASHBOARD_EXPRS)
def test_every_dashboard_query_uses_exported_metrics_and_labels(title, expr):
    check_expr(title, expr)


def test_the_dashboard_shows_every_metric_the_services_export():
    shown = set().union(*(check_expr(t, e) for t, e in DASHBOARD_EXPRS))
    assert shown == {m for m, _ in EXPORTED.values()}
    exprs = " ".join(e for _, e in DASHBOARD_EXPRS)
    assert "by (event_name, outcome) (rate(events_total" in exprs  # event rates by routing key and outcome
    assert "histogram_quantile(0.95, sum by (le, event_name) (rate(handler_seconds_bucket" in exprs


def test_alert_rules_are_complete_and_query_exported_metrics():
    for rule in RULES:
        assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule), rule.get("alert")
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"]
        check_expr(rule["alert"], rule["expr"])
    exprs = dict(RULE_EXPRS)
    assert re.search(r"\(dlq_depth\)\s*>\s*0$", exprs["DeadLettersWaiting"])
    stuck = re.search(r"phase_oldest_seconds\)\s*>\s*([\d.]+)\s*\*\s*max by \(phase\) \(phase_timeout_seconds\)",
                      exprs["JobStuckInPhase"])
    assert stuck and 0 < float(stuck.group(1)) < 1  # warns before the orchestrator fails the job
    assert exprs["ServiceDown"] == "up == 0"
    assert 'outcome=~"retried|dead_lettered"' in exprs["HandlerErrorRate"]


def test_service_missing_alert_names_every_scrape_job():
    jobs = {c["job_name"] for c in PROMETHEUS["scrape_configs"]}
    absent = set(re.findall(r'absent\(up\{job="([^"]+)"\}\)', dict(RULE_EXPRS)["ServiceMissing"]))
    assert absent == jobs


def test_prometheus_scrapes_every_service_at_the_port_its_container_listens_on():
    names_in_network = set(COMPOSE) | {a for s in COMPOSE.values()
                                       for a in s.get("networks", {}).get("default", {}).get("aliases", [])}
    scraped = {}
    for config in PROMETHEUS["scrape_configs"]:
        for sd in config.get("dns_sd_configs", []):
            assert sd["type"] == "A"
            for name in sd["names"]:
                assert name in names_in_network, f"{name} resolves to nothing on the compose network"
                scraped[name] = sd["port"]
    for svc in SERVICES:
        assert svc in scraped, f"Prometheus does not scrape {svc}"
        # the compose service of that name, or the one that takes it as an alias (vision-embedding-cpu)
        answering = [s for n, s in COMPOSE.items()
                     if n == svc or svc in s.get("networks", {}).get("default", {}).get("aliases", [])]
        assert answering and all(str(scraped[svc]) == s["environment"]["HTTP_PORT"] for s in answering), svc
    mount = next(v for v in COMPOSE["prometheus"]["volumes"] if v.startswith("./ops/prom-rules:"))
    assert PROMETHEUS["rule_files"] == [mount.split(":")[1] + "/*.yml"]


@pytest.mark.skipif(not shutil.which("promtool"), reason="no promtool here (apt-get install prometheus)")
def test_promtool_accepts_the_rules_and_every_dashboard_query(tmp_path):
    run = subprocess.run(["promtool", "check", "rules", str(RULES_FILE)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    # the dashboard's queries as recording rules, so promtool parses each one
    records = [{"record": f"dashboard:query_{i}", "expr": e.replace("$__rate_interval", "5m").replace("$service", ".*")}
               for i, (_, e) in enumerate(DASHBOARD_EXPRS)]
    rules = tmp_path / "dashboard.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    run = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.skipif(not shutil.which("promtool"), reason="no promtool here (apt-get install prometheus)")
def test_alerts_fire_on_synthetic_series_exactly_when_they_should():
    run = subprocess.run(["promtool", "test", "rules", str(REPO / "tests/ops/alert_rules_test.yml")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
