//! Receivers for the notification tests: a real SMTP server over TCP (RFC 5321, started in the
//! test process on a loopback port, nothing to install) and an HTTP receiver for Slack, Teams and
//! JSON webhooks.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use base64::Engine;
use mail_parser::MimeHeaders;

/// One email as the SMTP server received it (headers and decoded parts).
#[derive(Debug, Clone)]
pub struct Mail {
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub rcpt_tos: Vec<String>,
    pub text: String,
    pub html: String,
    pub authenticated: bool,
    /// The message as it arrived, after dot-unstuffing.
    pub raw: Vec<u8>,
}

#[derive(Default)]
struct SinkState {
    mails: Mutex<Vec<Mail>>,
    /// Open connections, shut down when the sink is dropped (a stopped server drops its clients).
    conns: Mutex<Vec<TcpStream>>,
    stopped: AtomicBool,
}

/// A real SMTP server on a loopback port, in this process: EHLO/HELO, AUTH PLAIN and LOGIN,
/// MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT. With credentials it refuses MAIL before a
/// successful AUTH (530) and wrong credentials (535), as the aiosmtpd sink it replaces did.
/// Each connection runs on its own thread with blocking I/O, so the sink works whatever runtime
/// (or none) the test uses, and a test may block while waiting for mail.
pub struct SmtpSink {
    pub port: u16,
    state: Arc<SinkState>,
}

impl SmtpSink {
    /// Starts the server; with `auth`, it requires that user name and password.
    pub fn start(auth: Option<(&str, &str)>) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(SinkState::default());
        let auth = auth.map(|(u, p)| (u.to_string(), p.to_string()));
        let accept_state = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if accept_state.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                if let Ok(clone) = conn.try_clone() {
                    accept_state.conns.lock().expect("lock").push(clone);
                }
                let state = accept_state.clone();
                let auth = auth.clone();
                std::thread::spawn(move || {
                    let _ = serve_connection(conn, auth.as_ref(), &state);
                });
            }
        });
        SmtpSink { port, state }
    }

    /// Every message received so far, in arrival order.
    pub fn mails(&self) -> Vec<Mail> {
        self.state.mails.lock().expect("lock").clone()
    }

    /// Waits until at least `n` messages arrived (or `timeout`), and returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let until = Instant::now() + timeout;
        loop {
            let mails = self.mails();
            if mails.len() >= n || Instant::now() > until {
                return mails;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag, and close every open connection.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for c in self.state.conns.lock().expect("lock").drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// One SMTP session (RFC 5321 §4.1, AUTH per RFC 4954, PLAIN per RFC 4616).
fn serve_connection(
    conn: TcpStream,
    auth: Option<&(String, String)>,
    state: &SinkState,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut out = conn.try_clone()?;
    let mut input = BufReader::new(conn);
    reply(&mut out, "220 127.0.0.1 ESMTP chaperone test sink")?;
    let mut authenticated = false;
    let mut from: Option<String> = None;
    let mut rcpts: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(&mut input)? else {
            return Ok(());
        };
        if state.stopped.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
            None => (line.trim().to_ascii_uppercase(), String::new()),
        };
        match verb.as_str() {
            "EHLO" => {
                from = None;
                rcpts.clear();
                if auth.is_some() {
                    reply(&mut out, "250-127.0.0.1")?;
                    reply(&mut out, "250-8BITMIME")?;
                    reply(&mut out, "250-AUTH PLAIN LOGIN")?;
                } else {
                    reply(&mut out, "250-127.0.0.1")?;
                    reply(&mut out, "250-8BITMIME")?;
                }
                reply(&mut out, "250 HELP")?;
            }
            "HELO" => {
                from = None;
                rcpts.clear();
                reply(&mut out, "250 127.0.0.1")?;
            }
            "AUTH" => {
                let Some((user, password)) = auth else {
                    reply(&mut out, "502 5.5.1 AUTH not offered")?;
                    continue;
                };
                if authenticated {
                    reply(&mut out, "503 5.5.1 Already authenticated")?;
                    continue;
                }
                let (mechanism, initial) = match arg.split_once(' ') {
                    Some((m, i)) => (m.to_ascii_uppercase(), Some(i.trim().to_string())),
                    None => (arg.to_ascii_uppercase(), None),
                };
                let given = match mechanism.as_str() {
                    "PLAIN" => {
                        let response = match initial {
                            Some(i) => i,
                            None => {
                                reply(&mut out, "334 ")?;
                                read_line(&mut input)?.unwrap_or_default()
                            }
                        };
                        decode(&response).and_then(|b| {
                            // authzid NUL authcid NUL passwd
                            let mut parts = b.split(|c| *c == 0).skip(1);
                            let u = String::from_utf8(parts.next()?.to_vec()).ok()?;
                            let p = String::from_utf8(parts.next()?.to_vec()).ok()?;
                            Some((u, p))
                        })
                    }
                    "LOGIN" => {
                        let u = match initial {
                            Some(i) => i,
                            None => {
                                reply(&mut out, "334 VXNlcm5hbWU6")?;
                                read_line(&mut input)?.unwrap_or_default()
                            }
                        };
                        reply(&mut out, "334 UGFzc3dvcmQ6")?;
                        let p = read_line(&mut input)?.unwrap_or_default();
                        decode(&u)
                            .and_then(|u| String::from_utf8(u).ok())
                            .zip(decode(&p).and_then(|p| String::from_utf8(p).ok()))
                    }
                    _ => {
                        reply(&mut out, "504 5.5.4 Unrecognized authentication type")?;
                        continue;
                    }
                };
                if given.as_ref() == Some(&(user.clone(), password.clone())) {
                    authenticated = true;
                    reply(&mut out, "235 2.7.0 Authentication successful")?;
                } else {
                    reply(&mut out, "535 5.7.8 Authentication credentials invalid")?;
                }
            }
            "MAIL" => {
                if auth.is_some() && !authenticated {
                    reply(&mut out, "530 5.7.0 Authentication required")?;
                } else if from.is_some() {
                    reply(&mut out, "503 5.5.1 Error: nested MAIL command")?;
                } else if let Some(path) = path_arg(&arg, "FROM:") {
                    from = Some(path);
                    reply(&mut out, "250 OK")?;
                } else {
                    reply(&mut out, "501 Syntax: MAIL FROM: <address>")?;
                }
            }
            "RCPT" => {
                if from.is_none() {
                    reply(&mut out, "503 5.5.1 Error: need MAIL command")?;
                } else if let Some(path) = path_arg(&arg, "TO:") {
                    rcpts.push(path);
                    reply(&mut out, "250 OK")?;
                } else {
                    reply(&mut out, "501 Syntax: RCPT TO: <address>")?;
                }
            }
            "DATA" => {
                if rcpts.is_empty() {
                    reply(&mut out, "503 5.5.1 Error: need RCPT command")?;
                    continue;
                }
                reply(&mut out, "354 End data with <CR><LF>.<CR><LF>")?;
                let mut raw = Vec::new();
                loop {
                    let mut l = Vec::new();
                    if input.read_until(b'\n', &mut l)? == 0 {
                        return Ok(()); // the client went away mid-message: nothing accepted
                    }
                    if l == b".\r\n" || l == b".\n" {
                        break;
                    }
                    // RFC 5321 §4.5.2: a leading dot was doubled by the client.
                    let l = if l.starts_with(b"..") {
                        &l[1..]
                    } else {
                        &l[..]
                    };
                    raw.extend_from_slice(l);
                }
                let mail = decode_mail(raw, std::mem::take(&mut rcpts), authenticated);
                // Recorded before the 250, so a client told "sent" always finds it here.
                state.mails.lock().expect("lock").push(mail);
                from = None;
                reply(&mut out, "250 OK")?;
            }
            "RSET" => {
                from = None;
                rcpts.clear();
                reply(&mut out, "250 OK")?;
            }
            "NOOP" => reply(&mut out, "250 OK")?,
            "QUIT" => {
                reply(&mut out, "221 Bye")?;
                return Ok(());
            }
            _ => reply(&mut out, "500 Error: command not recognized")?,
        }
    }
}

fn reply(out: &mut TcpStream, text: &str) -> std::io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.write_all(b"\r\n")?;
    out.flush()
}

/// A command line without its CRLF; `None` when the client closed the connection.
fn read_line(input: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut l = String::new();
    if input.read_line(&mut l)? == 0 {
        return Ok(None);
    }
    Ok(Some(l.trim_end_matches(['\r', '\n']).to_string()))
}

fn decode(b64: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
}

/// The address in `FROM:<a@b> PARAMS` / `TO:<a@b>`.
fn path_arg(arg: &str, prefix: &str) -> Option<String> {
    let rest = arg
        .get(..prefix.len())?
        .eq_ignore_ascii_case(prefix)
        .then(|| &arg[prefix.len()..])?;
    let rest = rest.trim_start();
    let path = rest.split_whitespace().next()?;
    Some(
        path.trim_start_matches('<')
            .trim_end_matches('>')
            .to_string(),
    )
}

fn decode_mail(raw: Vec<u8>, rcpt_tos: Vec<String>, authenticated: bool) -> Mail {
    let parsed = mail_parser::MessageParser::default().parse(&raw[..]);
    let header = |name: &str| -> String {
        parsed
            .as_ref()
            .and_then(|m| m.header_raw(name))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    // The first text/plain and the first text/html part, decoded (as the Python sink did).
    let part = |subtype: &str| -> String {
        parsed
            .as_ref()
            .and_then(|m| {
                m.parts.iter().find(|p| {
                    p.content_type().is_some_and(|c| {
                        c.ctype().eq_ignore_ascii_case("text")
                            && c.subtype().is_some_and(|s| s.eq_ignore_ascii_case(subtype))
                    }) || (subtype == "plain" && p.content_type().is_none() && p.is_text())
                })
            })
            .and_then(|p| p.text_contents())
            .map(str::to_string)
            .unwrap_or_default()
    };
    let subject = parsed
        .as_ref()
        .and_then(|m| m.subject())
        .unwrap_or_default()
        .to_string();
    let (text, html) = (part("plain"), part("html"));
    Mail {
        message_id: header("Message-ID"),
        from: header("From"),
        to: header("To"),
        subject,
        rcpt_tos,
        text,
        html,
        authenticated,
        raw,
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
