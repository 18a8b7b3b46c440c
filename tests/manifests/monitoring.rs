//! The agent's metrics and health endpoint as the DaemonSet, Prometheus and the PodMonitor
//! see it: probes and a metrics port that match `--metrics-addr`, and a scrape job and a
//! PodMonitor that find the DaemonSet's pods and metrics port.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::deploy::{each_installation, load_scrape_jobs, only, SCRAPE_JOBS_FILE};
use crate::k8s::{annotation_meta_label, resolve_port, selects};

#[test]
fn daemonset_metrics_port_probes_and_annotations_agree() {
    each_installation(|_, d| {
        let c = d.container();
        let port = d.metrics_port();
        let ports = c.ports.as_deref().unwrap_or_default();
        let metrics = ports
            .iter()
            .find(|p| p.container_port == port)
            .unwrap_or_else(|| {
                panic!("the DaemonSet: no containerPort {port} (the --metrics-addr port)")
            });
        assert!(
            matches!(metrics.protocol.as_deref(), None | Some("TCP")),
            "the DaemonSet: the metrics port is TCP"
        );
        assert!(
            metrics.name.is_some(),
            "the DaemonSet: the metrics containerPort needs a name (probes, PodMonitor)"
        );
        if let Some(host_port) = metrics.host_port {
            assert_eq!(
                host_port, port,
                "the DaemonSet: with hostNetwork, hostPort = containerPort"
            );
        }

        for (probe, path, what) in [
            (&c.startup_probe, "/livez", "startupProbe"),
            (&c.liveness_probe, "/livez", "livenessProbe"),
            (&c.readiness_probe, "/readyz", "readinessProbe"),
        ] {
            let get = probe
                .as_ref()
                .and_then(|p| p.http_get.as_ref())
                .unwrap_or_else(|| panic!("the DaemonSet: {what} is an httpGet probe"));
            assert_eq!(
                get.path.as_deref(),
                Some(path),
                "the DaemonSet: {what}.httpGet.path"
            );
            assert_eq!(
                resolve_port(c, &get.port),
                Some(port),
                "the DaemonSet: {what}.httpGet.port {:?} must be the metrics port {port}",
                get.port
            );
            assert!(
                matches!(get.scheme.as_deref(), None | Some("HTTP")),
                "the DaemonSet: {what}: the agent serves plain HTTP"
            );
        }

        let annotations = d.pod_annotations();
        let annotation = |k: &str| annotations.get(k).map(String::as_str);
        assert_eq!(
            annotation("prometheus.io/scrape"),
            Some("true"),
            "the DaemonSet: annotations"
        );
        assert_eq!(
            annotation("prometheus.io/port"),
            Some(port.to_string().as_str()),
            "the DaemonSet: the prometheus.io/port annotation must be the metrics port"
        );
        assert_eq!(
            annotation("prometheus.io/path"),
            Some("/metrics"),
            "the DaemonSet: annotations"
        );
    });
}

#[test]
fn prometheus_scrape_job_finds_the_daemonset_pods() {
    each_installation(|_, d| {
        let file = format!("deploy/{SCRAPE_JOBS_FILE}");
        let jobs = load_scrape_jobs();
        let job = only(&jobs, "Prometheus scrape job");
        assert_eq!(job.job_name, "shadowtap", "{file}: job_name");

        let ns = d.daemonset_namespace();
        let sd = only(&job.kubernetes_sd_configs, "kubernetes_sd_configs entry");
        assert_eq!(sd.role, "pod", "{file}: kubernetes_sd_configs[0].role");
        if let Some(namespaces) = &sd.namespaces {
            assert!(
                namespaces.names.contains(&ns),
                "{file}: kubernetes_sd_configs[0].namespaces.names must include {ns}"
            );
        }

        const ACTIONS: &[&str] = &[
            "replace",
            "keep",
            "drop",
            "keepequal",
            "dropequal",
            "hashmod",
            "labelmap",
            "labeldrop",
            "labelkeep",
            "lowercase",
            "uppercase",
        ];
        let annotations = d.pod_annotations();
        let annotation_labels: BTreeMap<String, &String> = annotations
            .iter()
            .map(|(k, v)| (annotation_meta_label(k), v))
            .collect();
        for (i, r) in job.relabel_configs.iter().enumerate() {
            let action = r.action.as_deref().unwrap_or("replace");
            assert!(
                ACTIONS.contains(&action),
                "{file}: relabel_configs[{i}].action {action:?}"
            );
            for label in r.source_labels.as_deref().unwrap_or_default() {
                if label.starts_with("__meta_kubernetes_pod_annotation_") {
                    assert!(
                    annotation_labels.contains_key(label),
                    "{file}: relabel_configs[{i}] reads {label}, an annotation the DaemonSet's \
                     pods do not carry"
                );
                }
            }
        }
        let scrape = annotation_meta_label("prometheus.io/scrape");
        assert!(
            job.relabel_configs
                .iter()
                .any(|r| r.action.as_deref() == Some("keep")
                    && r.source_labels.as_deref() == Some(&[scrape.clone()][..])
                    && r.regex.as_deref()
                        == annotations.get("prometheus.io/scrape").map(String::as_str)),
            "{file}: keeps the pods whose prometheus.io/scrape annotation is as in the DaemonSet"
        );
        let port = annotation_meta_label("prometheus.io/port");
        assert!(
            job.relabel_configs
                .iter()
                .any(|r| r.target_label.as_deref() == Some("__address__")
                    && r.source_labels
                        .as_deref()
                        .unwrap_or_default()
                        .contains(&port)),
            "{file}: sets __address__ from the prometheus.io/port annotation"
        );
        // The path: metrics_path (default /metrics), unless a relabeling sets __metrics_path__.
        if !job
            .relabel_configs
            .iter()
            .any(|r| r.target_label.as_deref() == Some("__metrics_path__"))
        {
            assert_eq!(
                Some(job.metrics_path.as_deref().unwrap_or("/metrics")),
                annotations.get("prometheus.io/path").map(String::as_str),
                "{file}: the scraped path is the DaemonSet's prometheus.io/path"
            );
        }
    });
}

#[test]
fn podmonitor_selects_the_daemonset_metrics_port() {
    each_installation(|i, d| {
        let file = "the PodMonitor";
        if !i.monitoring {
            assert!(
                d.pod_monitors.is_empty(),
                "a PodMonitor without the monitoring component"
            );
            return;
        }
        let pm = only(&d.pod_monitors, "PodMonitor");
        assert_eq!(
            pm.api_version, "monitoring.coreos.com/v1",
            "{file}: apiVersion"
        );
        assert_eq!(pm.kind, "PodMonitor", "{file}: kind");
        // Without a namespaceSelector a PodMonitor selects pods of its own namespace.
        if pm.spec.namespace_selector.is_none() {
            assert_eq!(
                pm.metadata.namespace,
                Some(d.daemonset_namespace()),
                "{file}: the PodMonitor is in the DaemonSet's namespace (no namespaceSelector)"
            );
        }
        assert!(
            selects(&pm.spec.selector, &d.pod_labels(), file),
            "{file}: spec.selector does not match the DaemonSet's pod labels {:?}",
            d.pod_labels()
        );
        let c = d.container();
        let metrics_port = d.metrics_port();
        assert!(
            !pm.spec.pod_metrics_endpoints.is_empty(),
            "{file}: podMetricsEndpoints is empty"
        );
        for (i, e) in pm.spec.pod_metrics_endpoints.iter().enumerate() {
            let port = e.port.as_ref().unwrap_or_else(|| {
                panic!("{file}: podMetricsEndpoints[{i}].port (a port name) is set")
            });
            assert_eq!(
            resolve_port(c, &IntOrString::String(port.clone())),
            Some(metrics_port),
            "{file}: podMetricsEndpoints[{i}].port {port:?} must name the container's metrics port"
        );
            assert_eq!(
                e.path.as_deref().unwrap_or("/metrics"),
                "/metrics",
                "{file}: podMetricsEndpoints[{i}].path"
            );
        }
    });
}
