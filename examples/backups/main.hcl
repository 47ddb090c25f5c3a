# Backups: a full and an incremental backup of a volume into a directory store, a volume
# restored from the incremental, and a nightly policy with retention.
#
#   blockform --chdir examples/backups apply --auto-approve
#   blockform --chdir examples/backups backup list
#   blockform --chdir examples/backups backup verify --all

provider "local" "dev" {
  path = "./.blockform/volumes"
}

backup_store "dir" "nas" {
  path = "./.blockform/backups"
}

resource "volume_type" "standard" {
  backend = "dev"
}

resource "volume" "db" {
  name = "db-data"
  type = volume_type.standard.id
  size = 1
}

resource "volume" "logs" {
  name = "logs"
  type = volume_type.standard.id
  size = 1
}

resource "backup" "db_base" {
  volume = volume.db.id
  store  = "nas"
  mode   = "full"
}

resource "backup" "db_daily" {
  volume = volume.db.id
  store  = "nas"
  mode   = "incremental"
}

resource "volume" "db_restored" {
  name   = "db-data-restored"
  type   = volume_type.standard.id
  size   = 1
  source = { backup = backup.db_daily.id }
}

resource "backup_policy" "nightly" {
  volumes           = [volume.logs.id]
  store             = "nas"
  full_every        = "7d"
  incremental_every = "24h"
  keep              = 2
}
