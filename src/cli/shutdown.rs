//! Graceful shutdown for long-running commands: the first SIGTERM or SIGINT asks the command to
//! stop (stop consuming, flush, commit); if it has not exited within the shutdown timeout, or a
//! second signal comes, the process exits at once (uncommitted input is reprocessed on restart).

use std::time::Duration;

/// Calls `stop` on the first SIGTERM/SIGINT, then exits the process after `timeout` or on a
/// second signal. The handlers are in place when it returns, so a signal from then on never meets
/// the default action (which would end the process without the final commit).
pub fn on_signal(timeout: Duration, stop: impl FnOnce() + Send + 'static) {
    use tokio::signal::unix::{signal, SignalKind};
    let (ready, registered) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("signal runtime");
        rt.block_on(async {
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
            let _ = ready.send(());
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tracing::info!(timeout_ms = timeout.as_millis() as u64, "signal received: stopping after a final commit");
            stop();
            tokio::select! {
                _ = term.recv() => {
                    tracing::warn!("second signal: exiting without the final commit");
                    std::process::exit(130);
                }
                _ = int.recv() => {
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
    // Until both handlers are registered a signal would end the process: wait for them.
    let _ = registered.recv();
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::on_signal;

    /// A signal sent as soon as `on_signal` returns asks the command to stop: the handlers are in
    /// place by then, so it never meets the default action (which ends the process).
    #[test]
    fn a_signal_right_after_on_signal_returns_reaches_stop() {
        let (tx, rx) = mpsc::channel();
        // Long enough that the exit after stopping never comes while the tests run.
        on_signal(Duration::from_secs(3600), move || {
            let _ = tx.send(());
        });
        let me = std::process::id().to_string();
        let status = Command::new("kill").args(["-INT", &me]).status().unwrap();
        assert!(status.success());
        rx.recv_timeout(Duration::from_secs(20))
            .expect("SIGINT reached stop");
    }
}
