# LVM: thin volumes in the thin pool of a volume group on an LVM host reached over ssh, with a
# snapshot and a clone of it.
#
#   blockform --chdir examples/lvm validate
#   blockform --chdir examples/lvm apply --auto-approve
#   blockform --chdir examples/lvm destroy --auto-approve --allow-data-loss
#
# `tests/lvm-host-up.sh` boots a throw-away LVM host (VG `vg0`, thin pool `vg0/pool`, root over
# ssh on 127.0.0.1:2223 with a generated key under /tmp/bf-lab/lvmhost), which the defaults of
# the variables below point at; give `-var host=... -var identity_file=...` for a real host.

variable "host" {
  type    = string
  default = "127.0.0.1"
}

variable "port" {
  type    = number
  default = 2223
}

variable "identity_file" {
  type    = string
  default = "/tmp/bf-lab/lvmhost/keys/client_ed25519"
}

variable "known_hosts" {
  type    = string
  default = "/tmp/bf-lab/lvmhost/known_hosts"
}

provider "lvm" "host1" {
  volume_group    = "vg0"
  thin_pool       = "pool"
  host            = var.host
  port            = var.port
  user            = "root"
  identity_file   = var.identity_file
  known_hosts     = var.known_hosts
  connect_timeout = "10s"
  capacity_check  = "warn"
}

resource "volume_type" "thin" {
  description = "thin volumes in vg0/pool"
  backend     = "host1"
}

resource "volume" "db" {
  name        = "db-data"
  description = "primary database; don't \"touch\" $(this)"
  type        = volume_type.thin.id
  size        = 1
  tags        = ["db"]
}

resource "snapshot" "before_upgrade" {
  volume      = volume.db.id
  description = "before the upgrade"
}

resource "volume" "db_copy" {
  type   = volume_type.thin.id
  size   = 2
  source = { snapshot = snapshot.before_upgrade.id }
}
