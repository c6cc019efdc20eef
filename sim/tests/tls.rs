//! HTTPS (`SimConfig.tls`): real TLS (an untrusting client fails the handshake), every URL the
//! sim emits is https, the CA survives a restart with a state file, `write_ca` + `FAILBACK_CA_FILE`,
//! and the binary's HTTPS default, `--ca-out` and CA file.

mod support;
use failback_sim::{Sim, SimConfig};
use std::error::Error as _;
use std::io::{BufRead, BufReader};
use support::*;

fn tls_cfg() -> SimConfig {
    SimConfig {
        scenario: scenario(),
        tls: true,
        ..Default::default()
    }
}

fn chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(" / ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

#[tokio::test]
async fn client_not_trusting_the_ca_fails_the_tls_handshake() {
    let sim = Sim::start(tls_cfg()).await.unwrap();
    let other = Sim::start(tls_cfg()).await.unwrap();
    let base = sim.base_url();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let health = format!("{base}/_sim/health");

    // Trusts a CA — just not this sim's (each start without a state file makes its own).
    assert_ne!(sim.ca_pem(), other.ca_pem());
    let wrong = https_client(&other.ca_pem().unwrap());
    let e = wrong.get(&health).send().await.expect_err("untrusted CA");
    assert!(e.is_connect(), "{}", chain(&e));
    assert!(
        chain(&e).contains("UnknownIssuer"),
        "certificate rejected: {}",
        chain(&e)
    );

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new();
    let r = plain
        .get(health.replacen("https://", "http://", 1))
        .send()
        .await;
    assert!(r.is_err(), "plain HTTP must not be served: {r:?}");

    // The trusting client works, over 127.0.0.1 and localhost (both in the certificate).
    let ok = https_client(&sim.ca_pem().unwrap());
    assert_eq!(ok.get(&health).send().await.unwrap().status(), 200);
    let localhost = health.replacen("127.0.0.1", "localhost", 1);
    assert_eq!(ok.get(&localhost).send().await.unwrap().status(), 200);

    // Nothing that failed the handshake reached the journal.
    assert!(sim.journal().is_empty());
    sim.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn urls_emitted_are_https_when_tls_is_on() {
    let mut s = scenario();
    s.paging.page_size = 1;
    let t = T::with_tls(s).await;
    let base = t.base.clone();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");

    for (k, v) in t.sim.env() {
        if k.ends_with("_ENDPOINT") || k.ends_with("_HOST") || k == "FAILBACK_SIM_URL" {
            assert!(v.starts_with(&base), "{k}={v}");
        }
    }
    let env = t.get("/_sim/env").await;
    assert_eq!(env.body["FAILBACK_ARM_ENDPOINT"], base.as_str());
    assert_eq!(
        env.body["IDENTITY_ENDPOINT"],
        format!("{base}/msi/token").as_str()
    );

    // PUT → Azure-AsyncOperation, then followed over https.
    let put = t
        .put(
            &format!("{}?api-version={NET}", t.nic("nic-tls")),
            t.nic_body("vnet-a", "10.1.0.20"),
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    let aao = put.h("azure-asyncoperation").expect("Azure-AsyncOperation");
    assert!(aao.starts_with(&format!("{base}/")), "{aao}");
    t.advance(6.0);
    let st = t.get(&aao).await;
    assert_eq!(st.status, 200, "{}", st.text);
    assert_eq!(st.body["status"], "Succeeded");

    // DELETE → Location + Azure-AsyncOperation.
    let del = t
        .delete(&format!("{}?api-version={NET}", t.nic("nic-tls")))
        .await;
    assert_eq!(del.status, 202, "{}", del.text);
    for h in ["location", "azure-asyncoperation"] {
        let u = del.h(h).unwrap_or_default();
        assert!(u.starts_with(&format!("{base}/")), "{h}: {u}");
    }
    t.advance(60.0);
    let loc = t.get(&del.h("location").unwrap()).await;
    assert!(matches!(loc.status, 200 | 204), "{}", loc.text);

    // Paging: nextLink is absolute https and works.
    let page = t
        .get(&format!(
            "/subscriptions/{}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks?api-version={NET}",
            t.sub
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let next = page.body["nextLink"]
        .as_str()
        .expect("nextLink")
        .to_string();
    assert!(next.starts_with(&format!("{base}/")), "{next}");
    let page2 = t.get(&next).await;
    assert_eq!(page2.status, 200, "{}", page2.text);
    assert_eq!(page2.body["value"].as_array().map(|v| v.len()), Some(1));
    t.sim.shutdown().await;
}

#[tokio::test]
async fn plain_http_by_default_without_ca() {
    let sim = Sim::start(SimConfig {
        scenario: scenario(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    assert!(sim.ca_pem().is_none());
    let dir = tempfile::tempdir().unwrap();
    let e = sim.write_ca(dir.path().join("ca.pem")).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(sim.env().iter().all(|(k, _)| k != "FAILBACK_CA_FILE"));
    sim.shutdown().await;
}

#[tokio::test]
async fn write_ca_sets_failback_ca_file() {
    let sim = Sim::start(tls_cfg()).await.unwrap();
    assert!(sim.env().iter().all(|(k, _)| k != "FAILBACK_CA_FILE"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    sim.write_ca(&path).unwrap();
    let pem = std::fs::read_to_string(&path).unwrap();
    assert_eq!(Some(pem.clone()), sim.ca_pem());
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let env = sim.env();
    let v = env
        .iter()
        .find(|(k, _)| k == "FAILBACK_CA_FILE")
        .map(|(_, v)| v.clone());
    assert_eq!(v.as_deref(), path.to_str());
    // A client built from the file alone gets in.
    let c = https_client(&pem);
    let r = c
        .get(format!("{}/_sim/health", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn ca_survives_a_restart_with_a_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sim.json");
    let cfg = SimConfig {
        state_file: Some(state.clone()),
        ..tls_cfg()
    };
    let sim = Sim::start(cfg.clone()).await.unwrap();
    let ca = sim.ca_pem().unwrap();
    let (cert_path, key_path) = failback_sim::tls::ca_paths(&state);
    assert_eq!(std::fs::read_to_string(&cert_path).unwrap(), ca);
    assert!(key_path.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "CA key is private: {mode:o}");
    }
    // With a state file the CA file is already on disk: reported without write_ca.
    assert!(sim
        .env()
        .iter()
        .any(|(k, v)| k == "FAILBACK_CA_FILE" && v == cert_path.to_str().unwrap()));
    let client = https_client(&ca);
    let t = T::attach(sim).await;
    t.sim.shutdown().await;

    // Restart (new port, new server certificate, same CA): the old client still gets in.
    let sim = Sim::start(cfg).await.unwrap();
    assert_eq!(sim.ca_pem().as_deref(), Some(ca.as_str()));
    let r = client
        .get(format!("{}/_sim/health", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sim.shutdown().await;

    // A key that does not match the stored certificate is refused, not silently replaced.
    let other_state = dir.path().join("other.json");
    let other = Sim::start(SimConfig {
        state_file: Some(other_state.clone()),
        ..tls_cfg()
    })
    .await
    .unwrap();
    other.shutdown().await;
    let other_key = failback_sim::tls::ca_paths(&other_state).1;
    std::fs::copy(other_key, &key_path).unwrap();
    let e = match Sim::start(SimConfig {
        state_file: Some(state),
        ..tls_cfg()
    })
    .await
    {
        Ok(_) => panic!("mismatched CA key accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("does not belong"), "{e}");
}

#[tokio::test]
async fn binary_tls_writes_the_ca_and_prints_failback_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca_out = dir.path().join("sim-ca.pem");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_failback-sim"))
        .args(["--listen", "127.0.0.1:0", "--ca-out"])
        .arg(&ca_out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn failback-sim");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("failback-sim listening on ")
        .expect("url line")
        .to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let mut env = vec![];
    for l in lines.by_ref().take(20) {
        let l = l.unwrap();
        let last = l.starts_with("export FAILBACK_CA_FILE=");
        env.push(l);
        if last {
            break;
        }
    }
    assert!(
        env.contains(&format!("export FAILBACK_CA_FILE={}", ca_out.display())),
        "{env:?}"
    );
    assert!(env.contains(&format!("export FAILBACK_ARM_ENDPOINT={url}")));
    let pem = std::fs::read_to_string(&ca_out).unwrap();
    let r = https_client(&pem)
        .get(format!("{url}/_sim/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let st = child.wait().unwrap();
    assert!(st.success(), "{st:?}");
}

/// Spawn the binary with `args`; its URL and `export` lines (up to FAILBACK_SIM_CLOCK, the last).
fn spawn_binary(args: &[&std::ffi::OsStr]) -> (std::process::Child, String, Vec<(String, String)>) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_failback-sim"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn failback-sim");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("failback-sim listening on ")
        .expect("url line")
        .to_string();
    let mut env = vec![];
    for l in lines.by_ref().take(30) {
        let l = l.unwrap();
        if let Some((k, v)) = l.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            env.push((k.to_string(), v.to_string()));
            if k == "FAILBACK_SIM_CLOCK" {
                break;
            }
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    (child, url, env)
}

fn stop(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let st = child.wait().unwrap();
    assert!(st.success(), "{st:?}");
}

/// Without flags the binary serves HTTPS (as `failback sim` does), writes its CA where the
/// printed FAILBACK_CA_FILE says, and with a state file that is the CA the state file keeps.
#[tokio::test]
async fn binary_defaults_to_https_and_prints_where_its_ca_is() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sim.json");
    for args in [vec![], vec!["--state-file".as_ref(), state.as_os_str()]] {
        let (child, url, env) = spawn_binary(&args);
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
        let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let ca = std::path::PathBuf::from(get("FAILBACK_CA_FILE").expect("FAILBACK_CA_FILE"));
        assert!(ca.is_absolute(), "{}", ca.display());
        if !args.is_empty() {
            assert_eq!(ca, dir.path().join("sim.json.ca.pem"));
        }
        assert_eq!(get("FAILBACK_SIM_CLOCK"), Some(url.clone()));
        assert_eq!(get("FAILBACK_ARM_ENDPOINT"), Some(url.clone()));
        let pem = std::fs::read_to_string(&ca).unwrap();
        let r = https_client(&pem)
            .get(format!("{url}/_sim/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        stop(child);
        if args.is_empty() {
            let _ = std::fs::remove_file(&ca);
        }
    }
}

/// `--no-tls` serves plain HTTP and prints no CA.
#[tokio::test]
async fn binary_no_tls_serves_http() {
    let (child, url, env) = spawn_binary(&["--no-tls".as_ref()]);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!env.iter().any(|(k, _)| k == "FAILBACK_CA_FILE"), "{env:?}");
    let r = reqwest::get(format!("{url}/_sim/health")).await.unwrap();
    assert_eq!(r.status(), 200);
    stop(child);
}
