//! Provider kinds this build knows only by their schema (libvirt): their blocks validate and
//! plan, and applying what needs them says they are not in this build, naming the block. An
//! LVM block is driven by the LVM provider: a volume group this machine does not have is named.

use crate::common::{blockform, project};

const CONFIG: &str = r#"
provider "local" "dev" {
  path = "./volumes"
}

provider "lvm" "vg" {
  volume_group = "data"
}

provider "libvirt" "kvm1" {
  uri = "qemu:///system"
}

resource "volume_type" "local" {
  backend = "dev"
}

resource "volume" "web" {
  type = volume_type.local.id
  size = 1
}

resource "attachment" "web" {
  volume   = volume.web.id
  instance = "web-1"
  host     = "kvm1"
}
"#;

#[test]
fn attaching_to_a_libvirt_host_says_this_build_cannot_yet() {
    let dir = project(&[("main.hcl", CONFIG)]);
    let validated = blockform(dir.path(), &["validate"]);
    assert_eq!(validated.code, 0, "{}\n{}", validated.stdout, validated.stderr);
    let applied = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(applied.code, 1, "{}\n{}", applied.stdout, applied.stderr);
    let shown = format!("{}{}", applied.stdout, applied.stderr);
    assert!(
        shown.contains("provider `kvm1` is a libvirt hypervisor; attaching volumes is not supported by this build yet"),
        "{shown}"
    );
}

#[test]
fn a_volume_on_lvm_names_the_missing_volume_group() {
    let config = CONFIG.replace("backend = \"dev\"", "backend = \"vg\"");
    let dir = project(&[("main.hcl", &config)]);
    let applied = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(applied.code, 1, "{}\n{}", applied.stdout, applied.stderr);
    let shown = format!("{}{}", applied.stdout, applied.stderr);
    assert!(
        shown.contains("the volume group `data` does not exist on the host (check `volume_group`"),
        "{shown}"
    );
}
