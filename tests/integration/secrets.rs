//! Secrets stay secret: a Twitch client secret, user and chat tokens and a SASL password, given by
//! config file, by environment variable or by flag, show neither in any command's `--help`, nor in
//! the logs (`--log trace`) and errors of a `monitor` and an `ingest` that really use them.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::chatpulse;
use crate::harness::brokers;
use crate::support::helix_server::{Channel, HelixServer};
use crate::support::irc_server::IrcServer;

/// Where a secret comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    File,
    Env,
    Flag,
}

/// The secrets of one source, each distinct so a leak names its path.
struct Secrets {
    client_secret: String,
    user_token: String,
    oauth_token: String,
    sasl_password: String,
}

impl Secrets {
    fn of(source: Source) -> Secrets {
        let tag = format!("{source:?}").to_lowercase();
        Secrets {
            client_secret: format!("{tag}-client-secret-k7q"),
            user_token: format!("{tag}-user-token-k7q"),
            oauth_token: format!("{tag}-oauth-token-k7q"),
            sasl_password: format!("{tag}-sasl-password-k7q"),
        }
    }

    fn all(&self) -> [&str; 4] {
        [
            &self.client_secret,
            &self.user_token,
            &self.oauth_token,
            &self.sasl_password,
        ]
    }

    /// `command` with these secrets given by `source` (`file`: the config file to write).
    fn give(&self, source: Source, command: &mut Command, file: &Path) {
        match source {
            Source::File => {
                let text = format!(
                    "client_secret = {:?}\nuser_token = {:?}\noauth_token = {:?}\n\
                     kafka_options = [\"sasl.password={}\"]\n[kafka]\n\"sasl.username\" = \"chatpulse\"\n",
                    self.client_secret, self.user_token, self.oauth_token, self.sasl_password
                );
                std::fs::write(file, text).unwrap();
                command.env("CHATPULSE_CONFIG", file);
            }
            Source::Env => {
                command
                    .env("TWITCH_CLIENT_SECRET", &self.client_secret)
                    .env("TWITCH_USER_TOKEN", &self.user_token)
                    .env("TWITCH_OAUTH_TOKEN", &self.oauth_token)
                    .env("CHATPULSE_KAFKA_SASL_PASSWORD", &self.sasl_password);
            }
            Source::Flag => {}
        }
    }
}

fn assert_hidden(what: &str, text: &str, secrets: &Secrets) {
    for s in secrets.all() {
        assert!(!text.contains(s), "{what} shows the secret {s:?}:\n{text}");
    }
}

const SOURCES: [Source; 3] = [Source::File, Source::Env, Source::Flag];

#[test]
fn help_never_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    for source in SOURCES {
        let secrets = Secrets::of(source);
        for sub in [
            "ingest", "monitor", "run", "replay", "tail", "bench", "process", "demo",
        ] {
            let mut c = chatpulse();
            secrets.give(source, &mut c, &dir.path().join("chatpulse.toml"));
            c.arg(sub);
            if let Source::Flag = source {
                c.args(["--client-secret", &secrets.client_secret])
                    .args(["--oauth-token", &secrets.oauth_token])
                    .args(["-X", &format!("sasl.password={}", secrets.sasl_password)]);
            }
            let out = c.arg("--help").output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert_hidden(&format!("`{sub} --help` ({source:?})"), &text, &secrets);
        }
    }
    // A config file that is not valid TOML: the error points at the line but does not print it.
    let file = dir.path().join("broken.toml");
    std::fs::write(&file, "client_secret = \"broken-secret-k7q\n").unwrap();
    let out = chatpulse()
        .env("CHATPULSE_CONFIG", &file)
        .args(["monitor", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 1"), "{stderr}");
    assert!(!stderr.contains("broken-secret-k7q"), "{stderr}");
}

/// Reads a child's stderr on a thread; kills the child and returns the text.
fn stop_and_read(mut child: Child, reader: std::thread::JoinHandle<String>) -> String {
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap()
}

fn spawn_logged(mut c: Command) -> (Child, std::thread::JoinHandle<String>) {
    let mut child = c
        .env("CHATPULSE_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    (child, reader)
}

/// Waits (bounded: 30 s) until `done`; false when it did not come.
async fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_monitor_using_its_secrets_never_show_them() {
    let dir = tempfile::tempdir().unwrap();
    for source in SOURCES {
        let secrets = Secrets::of(source);
        let server =
            HelixServer::start("cid", &secrets.client_secret, &secrets.user_token, 3600).await;
        server.set_channel(
            "nymn",
            Channel {
                id: "62300805".into(),
                stream: None,
                followers: 7,
            },
        );
        let mut c = chatpulse();
        secrets.give(source, &mut c, &dir.path().join("chatpulse.toml"));
        c.args([
            "monitor",
            "--channel",
            "nymn",
            "--json",
            "--client-id",
            "cid",
        ])
        .args(["--brokers", &brokers(), "--replication-factor", "1"])
        .args(["--topic", &crate::harness::unique("secret-streams")])
        .args(["--auth-url", &server.url(), "--helix-url", &server.url()])
        .args(["--interval-s", "0.2", "--metrics-addr", "off"]);
        if let Source::Flag = source {
            c.args(["--client-secret", &secrets.client_secret])
                .args(["--user-token", &secrets.user_token])
                .args(["-X", &format!("sasl.password={}", secrets.sasl_password)]);
        }
        let (child, reader) = spawn_logged(c);
        // Polls answered 200 with the user token: the monitor got a token with the secret and used both.
        let polled = wait_for(|| {
            server
                .requests()
                .iter()
                .filter(|r| r.status == 200 && r.line.contains("followers"))
                .count()
                >= 2
        })
        .await;
        let logs = stop_and_read(child, reader);
        assert!(
            polled,
            "the monitor ({source:?}) did not poll: {:?}\n{logs}",
            server.requests()
        );
        assert_hidden(&format!("the monitor's logs ({source:?})"), &logs, &secrets);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_errors_of_an_ingest_never_show_its_token() {
    let dir = tempfile::tempdir().unwrap();
    for source in SOURCES {
        let mut secrets = Secrets::of(source);
        // The test server refuses a token with "bad" in it: ingest logs in, is refused and exits.
        secrets.oauth_token = format!("bad-{}", secrets.oauth_token);
        let server = IrcServer::start().await;
        let mut c = chatpulse();
        secrets.give(source, &mut c, &dir.path().join("chatpulse.toml"));
        c.args([
            "ingest",
            "--channel",
            "nymn",
            "--nick",
            "chatbot",
            "--no-tls",
        ])
        .args(["--irc-addr", &server.addr(), "--brokers", &brokers()])
        .args(["--replication-factor", "1", "--metrics-addr", "off"])
        .args(["--topic", &crate::harness::unique("secret-raw")]);
        if let Source::Flag = source {
            c.args(["--oauth-token", &secrets.oauth_token])
                .args(["-X", &format!("sasl.password={}", secrets.sasl_password)]);
        }
        let (mut child, reader) = spawn_logged(c);
        let exited = wait_for(|| matches!(child.try_wait(), Ok(Some(_)))).await;
        let received = server.received();
        let logs = stop_and_read(child, reader);
        assert!(
            exited,
            "ingest ({source:?}) did not exit on the refused token:\n{logs}"
        );
        assert!(
            received
                .iter()
                .any(|l| l.starts_with("PASS ") && l.contains("k7q")),
            "ingest ({source:?}) did not log in with its token: {received:?}\n{logs}"
        );
        assert_hidden(&format!("ingest's logs ({source:?})"), &logs, &secrets);
    }
}

#[test]
fn a_kafka_property_the_client_refuses_is_named_without_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chatpulse.toml");
    std::fs::write(
        &file,
        "[kafka]\n\"ssl.key.password\" = \"file-key-password-k7q\"\n",
    )
    .unwrap();
    // This build has no OpenSSL, so librdkafka refuses ssl.key.password, quoting its value.
    // (the secret, extra flags, an environment variable to set)
    type Run<'a> = (&'a str, Vec<&'a str>, Option<(&'a str, &'a str)>);
    let runs: [Run; 3] = [
        ("file-key-password-k7q", vec![], None),
        (
            "env-key-password-k7q",
            vec![],
            Some(("CHATPULSE_KAFKA_SSL_KEY_PASSWORD", "env-key-password-k7q")),
        ),
        (
            "flag-key-password-k7q",
            vec!["-X", "ssl.key.password=flag-key-password-k7q"],
            None,
        ),
    ];
    for (secret, flags, env) in runs {
        let mut c = chatpulse();
        c.env("CHATPULSE_CONFIG", &file)
            .args([
                "replay",
                "--brokers",
                "127.0.0.1:1",
                "--metrics-addr",
                "off",
            ])
            .args(flags)
            .arg(crate::harness::repo_file(
                "data/sample/nymn-2024-01-06.irc.txt",
            ));
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("ssl.key.password"), "{stderr}");
        assert!(
            !stderr.contains(secret),
            "the error shows the secret {secret:?}: {stderr}"
        );
    }
}
