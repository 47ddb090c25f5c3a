# Attachments: two qcow2 volumes attached to a running libvirt domain, one with front-end QoS.
#
#   tests/lv-up.sh                                   # a private libvirtd (LV_DIR=/tmp/bf-lv)
#   virsh -c "$(cat $LV_DIR/uri)" define <(tests/mkdom.sh fw) && virsh -c "$(cat $LV_DIR/uri)" start fw
#   blockform --chdir examples/attach apply --auto-approve -var uri="$(cat $LV_DIR/uri)"
#   blockform --chdir examples/attach destroy --auto-approve -var uri="$(cat $LV_DIR/uri)"
#
# `fw` (from tests/mkdom.sh) has no guest OS: its disks go on the SCSI bus, which detaches
# without a guest's help. Each disk's serial is its volume's id (`/dev/disk/by-id/...`).

variable "uri" {
  type    = string
  default = "qemu:///system"
}

variable "instance" {
  type    = string
  default = "fw"
}

provider "local" "dev" {
  path = "./volumes"
}

provider "libvirt" "kvm1" {
  uri            = var.uri
  detach_timeout = "20s"
}

resource "qos" "guest" {
  consumer = "front-end"
  specs = {
    total_iops_sec     = 500
    total_iops_sec_max = 1000
    read_bytes_sec     = 10485760
  }
}

resource "volume_type" "limited" {
  backend = "dev"
  qos     = qos.guest.id
}

resource "volume_type" "plain" {
  backend = "dev"
}

resource "volume" "data" {
  type = volume_type.limited.id
  size = 1
}

resource "volume" "logs" {
  type = volume_type.plain.id
  size = 1
}

resource "attachment" "data" {
  volume   = volume.data.id
  instance = var.instance
  host     = "kvm1"
  bus      = "scsi"
}

resource "attachment" "logs" {
  volume   = volume.logs.id
  instance = var.instance
  host     = "kvm1"
  bus      = "scsi"
  device   = "sdc"
}
