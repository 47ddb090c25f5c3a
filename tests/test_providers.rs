//! Provider blocks whose back end is not there: their blocks validate and plan, and applying
//! what needs them names the block and what is missing (a libvirt hypervisor that does not
//! answer, a volume group this machine does not have).

use crate::common::{blockform, project};

const CONFIG: &str = r#"
provider "local" "dev" {
  path = "./volumes"
}

provider "lvm" "vg" {
  volume_group = "data"
}

provider "libvirt" "kvm1" {
  uri = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"
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
fn attaching_through_a_hypervisor_that_does_not_answer_names_it() {
    let dir = project(&[("main.hcl", CONFIG)]);
    let validated = blockform(dir.path(), &["validate"]);
    assert_eq!(validated.code, 0, "{}\n{}", validated.stdout, validated.stderr);
    let applied = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(applied.code, 1, "{}\n{}", applied.stdout, applied.stderr);
    let shown = format!("{}{}", applied.stdout, applied.stderr);
    assert!(
        shown.contains("attachment.web: ") && shown.contains("qemu+unix:///system?socket=/nonexistent/libvirt-sock"),
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
