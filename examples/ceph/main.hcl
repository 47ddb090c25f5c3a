# Ceph RBD: volumes as images in a pool, with back-end QoS, a snapshot and a clone.
#
#   blockform --chdir examples/ceph validate
#   blockform --chdir examples/ceph apply --auto-approve -var conf=/tmp/ceph/ceph.conf -var keyring=/tmp/ceph/ceph.client.admin.keyring
#
# `tests/ceph-up.sh` boots a throw-away cluster with a pool `rbd` (CEPH_DIR=/tmp/ceph).

variable "conf" {
  type    = string
  default = "/etc/ceph/ceph.conf"
}

variable "keyring" {
  type    = string
  default = "/etc/ceph/ceph.client.admin.keyring"
}

provider "ceph" "ssd" {
  pool            = "rbd"
  conf            = var.conf
  user            = "admin"
  keyring         = var.keyring
  connect_timeout = "10s"
  capacity_check  = "warn"
}

resource "qos" "gold" {
  consumer = "back-end"
  specs = {
    total_iops_sec     = 2000
    total_iops_sec_max = 4000
    write_bytes_sec    = 52428800
  }
}

resource "volume_type" "ssd" {
  description = "RBD pool rbd"
  backend     = "ssd"
  qos         = qos.gold.id
}

resource "volume" "db" {
  name = "db-data"
  type = volume_type.ssd.id
  size = 2
  tags = ["db"]
}

resource "snapshot" "before_upgrade" {
  volume      = volume.db.id
  description = "before the upgrade"
}

resource "volume" "db_copy" {
  type   = volume_type.ssd.id
  size   = 4
  source = { snapshot = snapshot.before_upgrade.id }
}
