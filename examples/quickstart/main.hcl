# Quickstart: qcow2 volumes in a local directory, no services needed.
#
#   blockform --chdir examples/quickstart validate
#   blockform --chdir examples/quickstart apply --auto-approve

variable "db_size" {
  type        = number
  default     = 20
  description = "Size of the database volume in GiB"

  validation {
    condition     = var.db_size >= 10
    error_message = "The database volume needs at least 10 GiB."
  }
}

variable "scratch_disks" {
  type    = set(string)
  default = ["a", "b", "c"]
}

locals {
  environment = "dev"
  common_tags = ["quickstart", local.environment]
}

provider "local" "dev" {
  path             = "./.blockform/volumes"
  oversubscription = 4.0
  capacity_check   = "warn"
}

backup_store "dir" "nas" {
  path = "./.blockform/backups"
}

resource "qos" "gold" {
  consumer = "back-end"
  specs = {
    total_iops_sec  = 2000
    read_bytes_sec  = 104857600
    write_bytes_sec = 52428800
  }
}

resource "volume_type" "standard" {
  description = "qcow2 files on the local disk"
  backend     = "dev"
  qos         = qos.gold.id
}

resource "volume" "db" {
  name        = "db-data"
  description = "PostgreSQL data"
  type        = volume_type.standard.id
  size        = var.db_size
  tags        = concat(local.common_tags, ["db"])
  metadata = {
    owner = "platform"
  }
}

resource "snapshot" "before_upgrade" {
  volume      = volume.db.id
  description = "before the 15.2 upgrade"
}

resource "volume" "db_copy" {
  name   = "db-data-copy"
  type   = volume_type.standard.id
  size   = var.db_size
  source = { snapshot = snapshot.before_upgrade.id }
}

resource "volume" "scratch" {
  for_each = var.scratch_disks
  name     = "scratch-${each.key}"
  type     = volume_type.standard.id
  size     = 5
  tags     = local.common_tags
}

resource "backup_policy" "nightly" {
  volumes           = [volume.db.id]
  store             = "nas"
  full_every        = "7d"
  incremental_every = "24h"
  keep              = 4
}

output "db_id" {
  value       = volume.db.id
  description = "Back-end id of the database volume"
}

output "scratch_names" {
  value = [for v in volume.scratch : v.name]
}
