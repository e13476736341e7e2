//! `--metrics`: the Prometheus text format at `GET /metrics`.

use std::time::Duration;

use axum::Router;
use axum::routing::get;

use super::Error;

/// Installs the process-wide recorder of the `metrics` facade (Prometheus
/// text format) on first use, and returns its handle. Install it before
/// building the store, so that what the store records at start (the Redis
/// feed gauge) is kept.
pub fn install_metrics() -> Result<metrics_exporter_prometheus::PrometheusHandle, Error> {
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        // Store calls take microseconds (memory) to milliseconds (Redis).
        .set_buckets(&[
            0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
            0.25, 0.5, 1.0,
        ])?
        // Throttle waits double from 1 s to 15 min.
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(auth_core::metrics::LOGIN_WAIT.to_owned()),
            &[
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 900.0,
            ],
        )?
        .install_recorder()
        .map_err(|e| format!("--metrics: {e}"))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Adds `GET /metrics` (Prometheus text format) to `app`, installing the
/// recorder if [`install_metrics`] was not called yet. The names are listed
/// in [`auth_core::metrics`].
pub fn with_metrics(app: Router) -> Result<Router, Error> {
    let handle = install_metrics()?;
    Ok(app.route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    ))
}
