//! `failback sim` and the `failback-sim` binary share their flags, defaults and output
//! (`failback_sim::cli`): HTTPS by default, the CA written where FAILBACK_CA_FILE says, the same
//! environment lines; `--no-tls` for plain HTTP. (The binary's side: sim/tests/tls.rs.)

use failback_sim::cli::{self, SimArgs};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `failback sim ARGS`: the child, its first line and its `export` keys and values, read up to
/// FAILBACK_SIM_CLOCK (the last line).
fn failback_sim(args: &[&std::ffi::OsStr]) -> (Running, String, Vec<(String, String)>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_failback"))
        .arg("sim")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn failback sim");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let child = Running(child);
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let mut env = vec![];
    for l in lines.by_ref().take(30).map_while(Result::ok) {
        if let Some((k, v)) = l.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            env.push((k.to_owned(), v.to_owned()));
            if k == "FAILBACK_SIM_CLOCK" {
                break;
            }
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    (child, first, env)
}

fn keys(env: &[(String, String)]) -> Vec<&str> {
    env.iter().map(|(k, _)| k.as_str()).collect()
}

fn value<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The `export` keys the shared code prints for a sim started with `args`.
fn shared_keys(args: SimArgs) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (sim, lines) = cli::start(&args).await.expect("start the emulator");
        sim.shutdown().await;
        lines
            .iter()
            .filter_map(|l| {
                l.strip_prefix("export ")?
                    .split_once('=')
                    .map(|(k, _)| k.to_owned())
            })
            .collect()
    })
}

#[test]
fn failback_sim_defaults_to_https_with_its_ca_where_the_environment_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("sim.json");
    let (_child, first, env) = failback_sim(&["--state-file".as_ref(), state.as_os_str()]);
    let url = first
        .strip_prefix("failback-sim listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = value(&env, "FAILBACK_CA_FILE").expect("FAILBACK_CA_FILE printed");
    assert_eq!(Path::new(ca), dir.path().join("sim.json.ca.pem"));
    let pem = std::fs::read_to_string(ca).expect("the CA file exists");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert_eq!(value(&env, "FAILBACK_SIM_CLOCK"), Some(url));
    assert_eq!(value(&env, "FAILBACK_ARM_ENDPOINT"), Some(url));
    let other = dir.path().join("other.json");
    let expected = shared_keys(SimArgs {
        state_file: Some(other),
        ..SimArgs::default()
    });
    assert_eq!(keys(&env), expected);
}

#[test]
fn failback_sim_no_tls_serves_http_without_a_ca() {
    let (_child, first, env) = failback_sim(&["--no-tls".as_ref()]);
    assert!(
        first.starts_with("failback-sim listening on http://127.0.0.1:"),
        "{first}"
    );
    assert_eq!(value(&env, "FAILBACK_CA_FILE"), None, "{env:?}");
    let expected = shared_keys(SimArgs {
        no_tls: true,
        ..SimArgs::default()
    });
    assert_eq!(keys(&env), expected);
}
