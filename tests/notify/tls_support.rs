//! What the TLS tests share: a test PKI made with rcgen (a CA, server certificates that are
//! good, for another name, expired or from an unknown CA, a client certificate), real TLS
//! servers on loopback (an HTTPS receiver, SMTP with STARTTLS or implicit TLS, both Python's
//! `ssl`; tinyproxy), and a run of the dispatcher that records metrics and logs.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use breakerbox::notify::{ChannelStats, Dispatcher, FlapPolicy, Notifier, RetryPolicy};
use breakerbox::{CircuitBreaker, Config};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};

use crate::support::eventually::{eventually, wait_for_port};
use crate::support::logs::Logs;
use crate::support::process::{Server, free_port, write};
use crate::support::recorded::series;

/// A test PKI written to a temporary directory as PEM files.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

/// A certificate and its key, as PEM.
struct Issued {
    cert: String,
    key: String,
}

impl Pki {
    /// `ca.pem` (the test CA) and, signed by it: `server` for 127.0.0.1 and localhost,
    /// `other-name` for other.example only, `expired` (valid in 2020 only) and `client` (a
    /// client certificate); `rogue` is a server certificate for 127.0.0.1 from another CA.
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let (test_ca, ca_pem) = new_ca("Breakerbox Test CA");
        let (rogue_ca, _) = new_ca("Some Other CA");
        let local = ["127.0.0.1", "localhost"];
        let pki = Pki { dir };
        pki.save("ca.pem", &ca_pem);
        pki.save_issued("server", leaf(&test_ca, &local, Leaf::Server));
        pki.save_issued(
            "other-name",
            leaf(&test_ca, &["other.example"], Leaf::Server),
        );
        pki.save_issued("expired", leaf(&test_ca, &local, Leaf::Expired));
        pki.save_issued(
            "client",
            leaf(&test_ca, &["breakerbox-client"], Leaf::Client),
        );
        pki.save_issued("rogue", leaf(&rogue_ca, &local, Leaf::Server));
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn pem(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    /// The test CA, as PEM.
    pub fn ca(&self) -> String {
        self.pem("ca.pem")
    }

    fn save(&self, name: &str, text: &str) {
        write(self.dir.path(), name, text);
    }

    fn save_issued(&self, name: &str, issued: Issued) {
        self.save(&format!("{name}.pem"), &issued.cert);
        self.save(&format!("{name}.key"), &issued.key);
    }
}

fn new_ca(name: &str) -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    (Issuer::new(params, key), cert.pem())
}

enum Leaf {
    Server,
    Expired,
    Client,
}

fn leaf(issuer: &Issuer<'static, KeyPair>, names: &[&str], kind: Leaf) -> Issued {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    params.extended_key_usages = vec![match kind {
        Leaf::Client => ExtendedKeyUsagePurpose::ClientAuth,
        Leaf::Server | Leaf::Expired => ExtendedKeyUsagePurpose::ServerAuth,
    }];
    if let Leaf::Expired = kind {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2020, 12, 31);
    }
    let cert = params.signed_by(&key, issuer).unwrap();
    Issued {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// A TLS server of `tls_servers.py`, writing what it received into its directory.
pub struct TlsServer {
    pub port: u16,
    server: Server,
}

impl TlsServer {
    /// An HTTPS receiver presenting the PKI's certificate `cert` (`server`, `expired`, ...);
    /// with `mutual`, it requires a client certificate from the test CA.
    pub async fn https(pki: &Pki, cert: &str, mutual: bool) -> TlsServer {
        let client_ca = mutual.then(|| pki.path("ca.pem"));
        TlsServer::start("https-receiver", "https", pki, cert, client_ca).await
    }

    /// An SMTP server requiring STARTTLS, with the PKI's certificate `cert`.
    pub async fn smtp_starttls(pki: &Pki, cert: &str) -> TlsServer {
        TlsServer::start("smtp-starttls", "smtp-starttls", pki, cert, None).await
    }

    /// An SMTP server speaking implicit TLS (SMTPS), with the PKI's certificate `cert`.
    pub async fn smtp_tls(pki: &Pki, cert: &str) -> TlsServer {
        TlsServer::start("smtp-tls", "smtp-tls", pki, cert, None).await
    }

    async fn start(
        name: &'static str,
        mode: &str,
        pki: &Pki,
        cert: &str,
        client_ca: Option<PathBuf>,
    ) -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/notify/tls_servers.py");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script)
            .arg(mode)
            .arg(port.to_string())
            .arg(pki.path(&format!("{cert}.pem")))
            .arg(pki.path(&format!("{cert}.key")))
            .arg(dir.path());
        if let Some(ca) = client_ca {
            cmd.arg(ca);
        }
        let server = Server::spawn(name, port, dir, cmd);
        wait_for_port(port, Duration::from_secs(10)).await;
        TlsServer { port, server }
    }

    /// `https://HOST:PORT/hook`.
    pub fn url(&self, host: &str) -> String {
        format!("https://{host}:{}/hook", self.port)
    }

    /// What it received, in order: one JSON document per request or message.
    pub fn received(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.server.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let read = |p: &PathBuf| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        files.iter().map(read).collect()
    }

    /// The handshakes the HTTPS receiver saw fail, except connections closed before a
    /// handshake began (the probe that waited for the port).
    pub fn failed_handshakes(&self) -> usize {
        self.server
            .log()
            .lines()
            .filter(|l| l.contains("handshake failed") && !l.contains("EOF"))
            .count()
    }
}

/// tinyproxy (Debian's package) on loopback, logging every request it forwards.
pub struct Tinyproxy {
    server: Server,
}

impl Tinyproxy {
    pub fn start() -> Tinyproxy {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("access.log");
        let conf = format!(
            "User root\nGroup root\nPort {port}\nListen 127.0.0.1\nTimeout 30\n\
             LogFile \"{}\"\nLogLevel Info\nMaxClients 20\nAllow 127.0.0.1\n",
            log.display()
        );
        let conf = write(dir.path(), "tinyproxy.conf", &conf);
        let mut cmd = Command::new("tinyproxy");
        cmd.arg("-d").arg("-c").arg(conf);
        let mut server = Server::spawn("tinyproxy", port, dir, cmd);
        assert!(
            server.wait_accepting(Duration::from_secs(10)),
            "tinyproxy did not start: {}",
            server.log()
        );
        Tinyproxy { server }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Its access log: a `Request ... POST http://...` line per forwarded request.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.server.dir.path().join("access.log")).unwrap_or_default()
    }
}

/// What one run of [`observed`] recorded besides its result.
pub struct Observed {
    /// `breakerbox_notification_tls_errors_total` by (channel, cause).
    pub tls_errors: Vec<(String, String, u64)>,
    /// The log lines.
    pub logs: String,
}

impl Observed {
    /// The log lines that report a TLS refusal.
    pub fn tls_log_lines(&self) -> Vec<&str> {
        self.logs
            .lines()
            .filter(|l| l.contains("refused by tls"))
            .collect()
    }
}

/// Runs `test` on a current-thread runtime (every task on this thread) with a local metrics
/// recorder and a log capture.
pub fn observed<T>(test: impl Future<Output = T>) -> (T, Observed) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let logs = Logs::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(logs.subscriber(), || rt.block_on(test))
    });
    let mut tls_errors: Vec<(String, String, u64)> =
        series(&snapshotter, "breakerbox_notification_tls_errors_total")
            .into_iter()
            .map(|(labels, value)| {
                let DebugValue::Counter(v) = value else {
                    panic!("not a counter")
                };
                (labels["channel"].clone(), labels["cause"].clone(), v)
            })
            .collect();
    tls_errors.sort();
    let logs = logs.text();
    (out, Observed { tls_errors, logs })
}

/// A breaker opens and recovers, which `notifier` is told (two notices, up to three attempts
/// each); returns the channel's counts after the dispatcher shut down.
pub async fn open_and_recover(notifier: impl Notifier) -> ChannelStats {
    transitions(notifier, true).await
}

/// A breaker opens (one notice, up to three attempts), and recovers if `recover`; returns
/// the channel's counts after the dispatcher shut down.
pub async fn transitions(notifier: impl Notifier, recover: bool) -> ChannelStats {
    let dispatcher = Dispatcher::builder()
        .channel(notifier)
        .retry(
            RetryPolicy::new()
                .attempts(3)
                .backoff(Duration::from_millis(10), Duration::from_millis(50))
                .timeout(Duration::from_secs(10)),
        )
        .flapping(FlapPolicy::disabled())
        .build()
        .unwrap();
    let config = Config::builder().failure_threshold(1).build().unwrap();
    let b = CircuitBreaker::builder("postgres")
        .config(config)
        .build()
        .unwrap();
    b.subscribe(dispatcher.listener());
    let _ = b.call_sync(|| Err::<(), _>("connection refused"));
    if recover {
        b.reset();
    }
    let stats = dispatcher.shutdown(Duration::from_secs(30)).await;
    let c = stats.channels[0].clone();
    assert_eq!(c.sent + c.failed + c.dropped, c.queued, "{c:?}");
    assert_eq!(c.queued, 1 + u64::from(recover), "{c:?}");
    assert_eq!(c.dropped, 0, "{c:?}");
    c
}

/// Waits until `server` received `n` documents; returns them.
pub async fn wait_received(server: &TlsServer, n: usize) -> Vec<serde_json::Value> {
    eventually("documents received", Duration::from_secs(10), || {
        let r = server.received();
        std::future::ready((r.len() >= n).then_some(r))
    })
    .await
}
