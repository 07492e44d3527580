//! Waiting for the signals that ask a long-running command to stop cleanly (SIGTERM, SIGINT).

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
