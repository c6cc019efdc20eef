//! Azurite (Microsoft's storage emulator, from the npm registry) as a real test component: started
//! on 127.0.0.1 at a free port with its data in a temporary directory, waited for, restartable on
//! the same port and data, killed on drop. `bash .ci/run` installs it (pinned 3.35.0) into
//! `target/azurite`; HTTPS with bearer tokens on request. `FAILBACK_AZURITE` may name another `azurite-blob` executable. A missing
//! Azurite fails the test: it is never skipped.
#![allow(dead_code)]

use failback_azblob::{AccountKey, Auth, ContainerClient, Endpoint, DEV_ACCOUNT_KEY};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Azurite may take to start on a loaded 2-core CI machine.
const START_DEADLINE: Duration = Duration::from_secs(60);

pub struct Azurite {
    bin: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// HTTPS with `--oauth basic`: the certificate (PEM) clients must trust.
    cert_pem: Option<String>,
}

/// The `azurite-blob` executable: `FAILBACK_AZURITE`, else `target/azurite` under the workspace.
pub fn azurite_bin() -> PathBuf {
    let path = match std::env::var_os("FAILBACK_AZURITE") {
        Some(p) => PathBuf::from(p),
        // The workspace's target directory, from a member crate or from the root package.
        None => {
            let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let bin = "target/azurite/node_modules/.bin/azurite-blob";
            let at_root = manifest.join(bin);
            if at_root.is_file() {
                at_root
            } else {
                manifest.join("..").join(bin)
            }
        }
    };
    assert!(
        path.is_file(),
        "Azurite not found at {}: run `bash .ci/run` (it installs azurite@3.35.0 into \
         target/azurite), or set FAILBACK_AZURITE to an azurite-blob executable",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

impl Azurite {
    /// Starts Azurite and waits until it accepts connections.
    pub fn start() -> Azurite {
        let mut azurite = Azurite::new();
        azurite.spawn_on_a_free_port();
        azurite
    }

    /// Starts Azurite over HTTPS (a fresh self-signed certificate for 127.0.0.1) accepting
    /// bearer tokens (`--oauth basic`: it checks a token's issuer, audience and lifetime, not
    /// its signature).
    pub fn start_https() -> Azurite {
        let mut azurite = Azurite::new();
        let key = rcgen::KeyPair::generate().expect("TLS key");
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("certificate params")
            .self_signed(&key)
            .expect("self-signed certificate");
        std::fs::write(azurite.dir.path().join("cert.pem"), cert.pem()).expect("write cert");
        std::fs::write(azurite.dir.path().join("key.pem"), key.serialize_pem()).expect("write key");
        azurite.cert_pem = Some(cert.pem());
        azurite.spawn_on_a_free_port();
        azurite
    }

    fn new() -> Azurite {
        Azurite {
            bin: azurite_bin(),
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir for Azurite"),
            child: None,
            cert_pem: None,
        }
    }

    /// An HTTP client that trusts this Azurite's certificate (HTTPS mode).
    pub fn http_client(&self) -> reqwest::Client {
        let pem = self
            .cert_pem
            .as_ref()
            .expect("Azurite started with start_https");
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).expect("cert PEM")])
            .no_gzip()
            .no_deflate()
            .build()
            .expect("HTTP client")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/devstoreaccount1/CONTAINER`
    pub fn container_url(&self, container: &str) -> String {
        let scheme = if self.cert_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!(
            "{scheme}://127.0.0.1:{}/devstoreaccount1/{container}",
            self.port
        )
    }

    /// A client for `container`, created if missing.
    pub async fn container(&self, container: &str) -> ContainerClient {
        let endpoint = Endpoint::parse(&self.container_url(container)).expect("container URL");
        let key = AccountKey::from_base64(DEV_ACCOUNT_KEY).expect("development key");
        let auth = Some(Auth::AccountKey(key));
        let client = match self.cert_pem {
            Some(_) => ContainerClient::with_http(endpoint, auth, self.http_client()),
            None => ContainerClient::new(endpoint, auth),
        }
        .expect("client");
        client.create_container().await.expect("create container");
        client
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("azurite-stderr.log")
    }

    fn log_file(&self) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("Azurite's stderr log")
    }

    /// Another process may take the free port before Azurite binds it: then try another.
    fn spawn_on_a_free_port(&mut self) {
        for _ in 0..3 {
            match self.spawn() {
                Ok(()) => return,
                Err(e) if e.contains("EADDRINUSE") => self.port = free_port(),
                Err(e) => panic!("{e}"),
            }
        }
        panic!("Azurite found no free port in 3 tries");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort"])
            .arg(self.port.to_string())
            .args(["--skipApiVersionCheck", "--disableTelemetry", "--silent"])
            .arg("--location")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(self.log_file()));
        if self.cert_pem.is_some() {
            cmd.arg("--cert")
                .arg(self.dir.path().join("cert.pem"))
                .arg("--key")
                .arg(self.dir.path().join("key.pem"))
                .args(["--oauth", "basic"]);
        }
        // SAFETY: prctl(2) is async-signal-safe; it only asks the kernel to SIGKILL Azurite if
        // the thread that started it dies (a test binary killed mid-run leaves no orphan).
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        self.wait_ready()
    }

    /// Polls until the port accepts a connection while our Azurite runs; an error if it exits
    /// first (with its stderr), a panic if the deadline passes.
    fn wait_ready(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let started = Instant::now();
        loop {
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait().ok().flatten(),
                None => return Err("Azurite is not running".into()),
            };
            if let Some(status) = exited {
                self.child = None;
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                return Err(format!("Azurite exited before answering ({status}): {log}"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            assert!(
                started.elapsed() < START_DEADLINE,
                "Azurite did not listen on {addr} within {START_DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops Azurite (SIGTERM, so it saves its metadata; SIGKILL after 60 s).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Kills Azurite at once (SIGKILL). Azurite saves its metadata every 5 s, so this loses
    /// writes it acknowledged in the last seconds (checked: 5 blobs written, SIGKILL 0.3 s
    /// later, none there after a restart) — unlike Azure. Restart with [`Azurite::restart`]
    /// (SIGTERM first) to keep the data.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts Azurite again on the same port with the same data directory. Call it from the
    /// thread that started Azurite (the test's): Azurite dies with that thread.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!("restarting Azurite on port {}: {e}", self.port);
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.kill();
    }
}
