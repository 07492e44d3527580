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
        .args(["demo", "--no-serve", "--home"])
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

/// Without `--no-serve` the demo serves the dashboard while it runs, prints its URL, and keeps it up
/// with every result until SIGINT (Ctrl-C), then exits 0.
#[test]
fn the_demo_serves_the_dashboard_until_ctrl_c() {
    use std::io::{BufRead, BufReader, Read, Write};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .env("CHATPULSE_LOG", "warn")
        .env_remove("CI")
        .args(["demo", "--dashboard-addr", "127.0.0.1:0", "--home"])
        .arg(repo_file(""))
        .arg("--report")
        .arg(dir.path().join("report.html"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut url = None;
    let mut line = String::new();
    // Every line until the one saying the dashboard stays up (the demo is done by then).
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the demo ended early"
        );
        if let Some(rest) = line.strip_prefix("dashboard: http://") {
            let addr = rest.split('/').next().unwrap().to_owned();
            url.get_or_insert(addr);
            if line.contains("stays up") {
                break;
            }
        }
    }
    let addr = url.expect("the demo printed the dashboard's URL");
    let get = |path: &str| {
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        write!(conn, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(get("/").contains("<title>chatpulse</title>"));
    // The demo's results reach the board: both bundled channels (polled until then, at most 30 s).
    let names = |answer: String| -> Vec<String> {
        let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["channel"].as_str().unwrap().to_owned())
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got = names(get("/api/channels"));
        if got.iter().any(|c| c == "northernlion") && got.iter().any(|c| c == "nymn") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{got:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
