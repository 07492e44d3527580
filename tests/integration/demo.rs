//! `chatpulse demo` as a newcomer runs it: the whole pipeline on the embedded broker over the bundled
//! real chat, its results equal to the offline run, and an HTML report that headless Chromium opens
//! and renders (the screenshot is kept in the test's target dir).

use std::process::Command;

use crate::harness::repo_file;

#[test]
fn the_demo_matches_the_offline_run_and_its_report_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .env("CHATPULSE_LOG", "warn")
        .args(["demo", "--home"])
        .arg(repo_file(""))
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Real numbers: every minute of both bundled channels, the spikes and subs of #northernlion.
    assert!(
        stdout.contains("the Kafka results equal the offline run of the same slice"),
        "{stdout}"
    );
    assert!(
        stdout.contains("#northernlion: 50 minutes, 3069 messages"),
        "{stdout}"
    );
    assert!(stdout.contains("21 subscription notice(s)"), "{stdout}");
    assert!(stdout.contains("#nymn: 9 minutes"), "{stdout}");
    assert!(stdout.contains("SPIKE end:"), "{stdout}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert_eq!(html.matches("<svg").count(), 2, "one chart per channel");

    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())
        .expect(
            "Chromium is not installed: run `bash scripts/setup`, which installs Debian's chromium",
        );
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-report.png");
    let _ = std::fs::remove_file(&shot);
    let status = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1000,1400")
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    // A blank page compresses to a few kB; the charts and text do not.
    assert!(png.len() > 30_000, "{} bytes", png.len());
    println!("screenshot: {}", shot.display());
}
