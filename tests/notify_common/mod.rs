//! Receivers for the notification tests: a real SMTP server (Python aiosmtpd, installed by
//! .ci/run) run as a child process, and an HTTP receiver for Slack, Teams and JSON webhooks.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;

/// One email as the SMTP server received it (headers and decoded parts).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Mail {
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub rcpt_tos: Vec<String>,
    pub text: String,
    pub html: String,
    pub authenticated: bool,
}

/// A real SMTP server in a child process, writing what it accepts to a folder.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts the server; with `auth`, it requires that user name and password.
    pub fn start(auth: Option<(&str, &str)>) -> SmtpSink {
        let dir = tempfile::tempdir().expect("temp dir");
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/notify/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg(dir.path());
        if let Some((u, p)) = auth {
            cmd.arg(u).arg(p);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "python3 runs (install it, and `python3 -m pip install aiosmtpd`, as .ci/run does)",
            );
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the SMTP server prints its port");
        let port = line
            .trim()
            .strip_prefix("port=")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!("the SMTP server did not start (is aiosmtpd installed? `python3 -m pip install aiosmtpd`): {line:?}")
            });
        SmtpSink { child, port, dir }
    }

    /// Every message received so far, in arrival order.
    pub fn mails(&self) -> Vec<Mail> {
        read_mails(self.dir.path())
    }

    /// Waits until at least `n` messages arrived (or `timeout`), and returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let until = Instant::now() + timeout;
        loop {
            let mails = self.mails();
            if mails.len() >= n || Instant::now() > until {
                return mails;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn read_mails(dir: &Path) -> Vec<Mail> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
        .iter()
        .map(|p| {
            serde_json::from_str(&std::fs::read_to_string(p).expect("read mail"))
                .expect("mail json")
        })
        .collect()
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request the HTTP receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Hit {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
}

/// A local HTTP server that records every POST and answers 200.
pub struct Receiver {
    pub base: String,
    state: ReceiverState,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = ReceiverState::default();
        let app = Router::new()
            .route("/{*path}", post(record))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { base, state, task }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().expect("lock").clone()
    }

    pub fn hits_on(&self, path: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.path == path).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(state): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.hits.lock().expect("lock").push(Hit {
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
    });
    StatusCode::OK
}

/// A TCP port on which nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

/// A settings file for one tenant whose notifications go to `smtp_port` (plain SMTP with
/// `user`/password file) and to webhooks at `receiver` (Slack, Teams, signed JSON).
pub fn settings_toml(
    dir: &Path,
    store_url: &str,
    smtp_port: u16,
    receiver: &str,
    extra_notify: &str,
) -> PathBuf {
    let password = dir.join("smtp-password");
    std::fs::write(&password, "correct horse battery staple\n").expect("write password");
    let secret = dir.join("signing-secret");
    std::fs::write(&secret, "s3cr3t-signing-key\n").expect("write secret");
    let text = format!(
        r#"
[store]
url = "{store_url}"

[[tenants]]
id = "riverside-youth"
timezone = "Europe/London"

[tenants.notify]
leads = ["dsl@riverside.example.org"]
escalation_channels = ["safeguarding-slack"]
admins = ["admin@riverside.example.org"]
admin_channels = ["safeguarding-teams", "records-json"]
{extra_notify}

[tenants.notify.email]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
username = "chaperone"
password_file = "{password}"
from = "chaperone <chaperone@riverside.example.org>"
reply_to = "safeguarding@riverside.example.org"
timeout_secs = 5

[tenants.notify.delivery]
backoff_base_secs = 60
lease_secs = 2
poll_secs = 1

[[tenants.notify.webhooks]]
name = "safeguarding-slack"
kind = "slack"
url = "{receiver}/slack/T000/B000/slack-token-XYZ"

[[tenants.notify.webhooks]]
name = "safeguarding-teams"
kind = "teams"
url = "{receiver}/teams/workflow-token-ABC"

[[tenants.notify.webhooks]]
name = "records-json"
kind = "json"
url = "{receiver}/json"
secret_file = "{secret}"
"#,
        password = password.display(),
        secret = secret.display(),
    );
    let path = dir.join("chaperone.toml");
    std::fs::write(&path, text).expect("write settings");
    path
}
