//! What the LVM benches share: the host from the environment `tests/run` exports, a provider
//! over it, and commands run on the host through the real ssh client.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use blockform_provider_lvm::{LvmConfig, LvmProvider};

/// The host's connection, or `None` (and a note) when the environment names none.
pub fn config() -> Option<LvmConfig> {
    let var = |name: &str| std::env::var(name).ok();
    let (Some(host), Some(port), Some(key), Some(known_hosts)) = (
        var("BLOCKFORM_TEST_LVM_HOST"),
        var("BLOCKFORM_TEST_LVM_PORT"),
        var("BLOCKFORM_TEST_LVM_IDENTITY_FILE"),
        var("BLOCKFORM_TEST_LVM_KNOWN_HOSTS"),
    ) else {
        println!(
            "skipped: needs an LVM host (BLOCKFORM_TEST_LVM_HOST, _PORT, _IDENTITY_FILE, _KNOWN_HOSTS; \
             tests/lvm-host-up.sh boots one)"
        );
        return None;
    };
    let mut config = LvmConfig::new(var("BLOCKFORM_TEST_LVM_VG").unwrap_or_else(|| "vg0".to_owned()));
    config.thin_pool = Some(var("BLOCKFORM_TEST_LVM_THIN_POOL").unwrap_or_else(|| "pool".to_owned()));
    config.host = Some(host);
    config.port = Some(port.parse().expect("a port number"));
    config.user = Some("root".to_owned());
    config.identity_file = Some(PathBuf::from(key));
    config.known_hosts = Some(PathBuf::from(known_hosts));
    Some(config)
}

/// A provider over the host.
pub fn provider(config: &LvmConfig) -> LvmProvider {
    LvmProvider::new("bench", config.clone()).unwrap()
}

/// Runs a shell script on the host with one plain ssh connection (no master), as an operator's
/// script would; returns how long it took.
pub fn ssh_script(config: &LvmConfig, script: &str) -> Duration {
    let started = Instant::now();
    let output = Command::new("ssh")
        .args(["-p", &config.port.unwrap_or(22).to_string(), "-o", "BatchMode=yes"])
        .args(["-i", &config.identity_file.as_ref().unwrap().display().to_string()])
        .args([
            "-o",
            &format!("UserKnownHostsFile={}", config.known_hosts.as_ref().unwrap().display()),
        ])
        .arg(format!(
            "{}@{}",
            config.user.as_deref().unwrap_or("root"),
            config.host.as_deref().unwrap()
        ))
        .arg("--")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed()
}

/// [`ssh_script`] with `input` on the script's stdin.
#[allow(dead_code, reason = "the refresh bench uses it, the operations bench does not")]
pub fn ssh_script_with_input(config: &LvmConfig, script: &str, input: &[u8]) -> Duration {
    use std::io::Write;
    let started = Instant::now();
    let mut child = Command::new("ssh")
        .args(["-p", &config.port.unwrap_or(22).to_string(), "-o", "BatchMode=yes"])
        .args(["-i", &config.identity_file.as_ref().unwrap().display().to_string()])
        .args([
            "-o",
            &format!("UserKnownHostsFile={}", config.known_hosts.as_ref().unwrap().display()),
        ])
        .arg(format!(
            "{}@{}",
            config.user.as_deref().unwrap_or("root"),
            config.host.as_deref().unwrap()
        ))
        .arg("--")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    assert!(child.wait().unwrap().success(), "{script}");
    started.elapsed()
}

/// Milliseconds, for figures.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
