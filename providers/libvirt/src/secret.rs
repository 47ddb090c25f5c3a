//! The cephx key of an RBD disk as libvirt needs it: a libvirt secret (usage type `ceph`) that
//! blockform defines from the storage provider's keyring file, named after the user and the
//! cluster's monitors so that each cluster and user gets one. The key travels through a
//! private temporary file, never through an argument or a record.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use blockform_provider::toolkit::io_failure;
use blockform_provider::{ProviderError, Result, SecretRef};

use crate::disk_xml::escape;
use crate::virsh::Virsh;

/// The secrets this process has made sure of, by usage name: their UUIDs.
#[derive(Debug, Default)]
pub struct Secrets {
    known: Mutex<HashMap<String, String>>,
}

impl Secrets {
    /// The UUID of the libvirt secret that holds `user`'s key for the cluster at `monitors`,
    /// defining it (and setting its value) when this process has not yet.
    pub fn ensure(&self, virsh: &Virsh, user: &str, monitors: &[String], secret: &SecretRef) -> Result<String> {
        let usage = usage_name(user, monitors);
        let mut known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(uuid) = known.get(&usage) {
            return Ok(uuid.clone());
        }
        let uuid = match secret {
            SecretRef::Named { name } => find(virsh, name)?.ok_or_else(|| {
                ProviderError::fatal(format!(
                    "libvirt has no secret with usage `{name}` for the cephx key of `client.{user}`"
                ))
            })?,
            SecretRef::KeyringFile { path } => define(virsh, &usage, user, path)?,
            SecretRef::Default => define(
                virsh,
                &usage,
                user,
                &PathBuf::from(format!("/etc/ceph/ceph.client.{user}.keyring")),
            )?,
        };
        known.insert(usage, uuid.clone());
        Ok(uuid)
    }
}

/// The usage name of blockform's secret for a user of a cluster.
pub fn usage_name(user: &str, monitors: &[String]) -> String {
    format!("blockform client.{user} {}", monitors.join(","))
}

/// The UUID of the ceph secret whose usage is `usage`, if libvirt has one.
fn find(virsh: &Virsh, usage: &str) -> Result<Option<String>> {
    let listed = virsh.run(&["secret-list"])?;
    Ok(listed.lines().find_map(|line| {
        let (uuid, rest) = line.trim().split_once(char::is_whitespace)?;
        (rest.trim() == format!("ceph {usage}")).then(|| uuid.to_owned())
    }))
}

/// Defines (or finds) the secret `usage` and sets its value to `user`'s key in `keyring`.
fn define(virsh: &Virsh, usage: &str, user: &str, keyring: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(keyring).map_err(|e| io_failure(&format!("read `{}`", keyring.display()), &e))?;
    let key = keyring_key(&text, user)
        .ok_or_else(|| ProviderError::fatal(format!("`{}` holds no key for `client.{user}`", keyring.display())))?;
    let uuid = if let Some(uuid) = find(virsh, usage)? {
        uuid
    } else {
        {
            let uuid = uuid::Uuid::new_v4().to_string();
            let xml = format!(
                "<secret ephemeral='no' private='yes'><uuid>{uuid}</uuid><usage type='ceph'><name>{}</name></usage></secret>\n",
                escape(usage)
            );
            let file = private_file(&xml)?;
            let defined = virsh.run(&["secret-define", &file.path.display().to_string()]);
            drop(file);
            defined?;
            uuid
        }
    };
    let file = private_file(&key)?;
    virsh.run(&[
        "secret-set-value",
        "--secret",
        &uuid,
        "--file",
        &file.path.display().to_string(),
    ])?;
    Ok(uuid)
}

/// The base64 key of `client.USER` in a Ceph keyring.
fn keyring_key(text: &str, user: &str) -> Option<String> {
    let section = format!("[client.{user}]");
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == section;
        } else if inside
            && let Some((name, value)) = line.split_once('=')
            && name.trim() == "key"
        {
            return Some(value.trim().to_owned());
        }
    }
    None
}

/// A file only its owner can read, removed when dropped.
pub struct PrivateFile {
    /// Where it is.
    pub path: PathBuf,
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes `content` to a new private temporary file.
pub fn private_file(content: &str) -> Result<PrivateFile> {
    let path = std::env::temp_dir().join(format!("blockform-libvirt-{}", uuid::Uuid::new_v4()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io_failure(&format!("create `{}`", path.display()), &e))?;
    let file_guard = PrivateFile { path };
    file.write_all(content.as_bytes())
        .map_err(|e| io_failure(&format!("write `{}`", file_guard.path.display()), &e))?;
    Ok(file_guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_of_a_user_is_read_from_its_section_of_the_keyring() {
        let keyring = "[client.admin]\n\tkey = QVFEa2V5\n\tcaps mon = \"allow *\"\n[client.h]\nkey=QVFIa2V5\n";
        assert_eq!(keyring_key(keyring, "admin").as_deref(), Some("QVFEa2V5"));
        assert_eq!(keyring_key(keyring, "h").as_deref(), Some("QVFIa2V5"));
        assert_eq!(keyring_key(keyring, "other"), None);
        assert_eq!(
            usage_name("admin", &["127.0.0.1:6789".into()]),
            "blockform client.admin 127.0.0.1:6789"
        );
    }
}
