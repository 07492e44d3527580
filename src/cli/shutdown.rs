//! Graceful shutdown for long-running commands: the first SIGTERM or SIGINT asks the command to
//! stop (stop consuming, flush, commit); if it has not exited within the shutdown timeout, or a
//! second signal comes, the process exits at once (uncommitted input is reprocessed on restart).

use std::time::Duration;

/// Calls `stop` on the first SIGTERM/SIGINT, then exits the process after `timeout` or on a
/// second signal.
pub fn on_signal(timeout: Duration, stop: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("signal runtime");
        rt.block_on(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            tracing::info!(timeout_ms = timeout.as_millis() as u64, "signal received: stopping after a final commit");
            stop();
            tokio::select! {
                _ = term.recv() => {
                    tracing::warn!("second signal: exiting without the final commit");
                    std::process::exit(130);
                }
                _ = tokio::signal::ctrl_c() => {
                    tracing::warn!("second signal: exiting without the final commit");
                    std::process::exit(130);
                }
                _ = tokio::time::sleep(timeout) => {
                    tracing::error!("shutdown took longer than --shutdown-timeout: exiting; uncommitted input will be reprocessed");
                    std::process::exit(1);
                }
            }
        });
    });
}
