//! Helpers shared by the test files that read the real chat data sets.

use std::path::PathBuf;

/// The folder of the real Twitch chat data sets: `CHATPULSE_DATA_DIR`, else
/// `../shared/data/twitch-chat` beside the repository. Panics with instructions when it is missing,
/// so a test never passes by skipping its data.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("CHATPULSE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/twitch-chat")
        });
    assert!(
        dir.is_dir(),
        "the real chat data sets are not at {}: set CHATPULSE_DATA_DIR to the twitch-chat data folder",
        dir.display()
    );
    dir
}
