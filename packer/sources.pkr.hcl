# One appliance, five targets. ISO targets install Rocky Linux 9 with http/ks.cfg, which lays the
# disk out as DESIGN.md says; the cloud targets start from that same base disk imported once
# (an AMI / a VHD), because a cloud marketplace image has no A/B layout. Every target then runs
# the same provisioners (build.pkr.hcl).

locals {
  image_name       = "twinroot-appliance-${var.appliance_version}"
  grub_scripts_dir = var.grub_scripts_dir != "" ? var.grub_scripts_dir : "${path.root}/../grub-scripts"
  ssh_key_file     = var.ssh_private_key_file != "" ? var.ssh_private_key_file : null
  ssh_password     = var.build_password != "" ? var.build_password : null

  # The kickstart reads the layout sizes and the build password from the kernel command line
  # (a kickstart served over HTTP cannot be templated by every Packer version).
  kickstart_args = join(" ", [
    "inst.text",
    "inst.ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.cfg",
    "console=ttyS0,115200",
    "twinroot.boot_mb=${var.boot_size_mb}",
    "twinroot.root_mb=${var.root_size_mb}",
    "twinroot.data_mb=${var.data_size_mb}",
    "twinroot.image_mb=${var.image_size_mb}",
    "twinroot.build_password=${var.build_password}",
  ])
  # Rocky 9's BIOS boot menu (isolinux): edit the first entry, append our arguments, boot.
  iso_boot_command = ["<up><tab><wait>", " ${local.kickstart_args}<enter>"]
}

source "qemu" "appliance" {
  vm_name          = "${local.image_name}.qcow2"
  output_directory = "${var.output_dir}/qemu"
  format           = "qcow2"
  accelerator      = var.qemu_accelerator
  cpus             = var.cpus
  memory           = var.memory_mb
  headless         = var.qemu_headless
  disk_interface   = "virtio"
  net_device       = "virtio-net"
  disk_size        = "${var.disk_size_mb}M"

  # From the ISO (kickstart), or from an existing A/B disk (disk_image): then no boot command,
  # and the disk keeps its own size.
  iso_url          = var.qemu_source_disk != "" ? var.qemu_source_disk : var.rocky_iso_url
  iso_checksum     = var.qemu_source_disk != "" ? "none" : var.rocky_iso_checksum
  disk_image       = var.qemu_source_disk != ""
  skip_resize_disk = var.qemu_source_disk != ""
  http_directory   = "${path.root}/http"
  boot_wait        = "5s"
  boot_command     = var.qemu_source_disk != "" ? [] : local.iso_boot_command

  qemuargs = [["-cpu", "qemu64"], ["-serial", "file:${var.output_dir}/qemu-serial.log"]]

  communicator         = "ssh"
  ssh_username         = "root"
  ssh_private_key_file = local.ssh_key_file
  ssh_password         = local.ssh_password
  ssh_timeout          = "30m"
  shutdown_command     = "systemctl poweroff"
  shutdown_timeout     = "10m"
}

source "vmware-iso" "appliance" {
  vm_name              = local.image_name
  output_directory     = "${var.output_dir}/vmware"
  format               = "ova"
  guest_os_type        = "rockylinux-64"
  version              = 19
  cpus                 = var.cpus
  memory               = var.memory_mb
  disk_size            = var.disk_size_mb
  disk_adapter_type    = "pvscsi"
  disk_type_id         = "0"
  network_adapter_type = "vmxnet3"
  headless             = true

  iso_url        = var.rocky_iso_url
  iso_checksum   = var.rocky_iso_checksum
  http_directory = "${path.root}/http"
  boot_wait      = "5s"
  boot_command   = local.iso_boot_command
  vmx_data = {
    "firmware" = "bios"
  }

  communicator     = "ssh"
  ssh_username     = "root"
  ssh_password     = local.ssh_password
  ssh_timeout      = "30m"
  shutdown_command = "systemctl poweroff"
}

source "vsphere-iso" "appliance" {
  vcenter_server      = var.vsphere_server
  username            = var.vsphere_username
  password            = var.vsphere_password
  insecure_connection = var.vsphere_insecure
  datacenter          = var.vsphere_datacenter
  cluster             = var.vsphere_cluster
  datastore           = var.vsphere_datastore
  folder              = var.vsphere_folder

  vm_name              = local.image_name
  guest_os_type        = "rockylinux_64Guest"
  firmware             = "bios"
  CPUs                 = var.cpus
  RAM                  = var.memory_mb
  disk_controller_type = ["pvscsi"]
  storage {
    disk_size             = var.disk_size_mb
    disk_thin_provisioned = true
  }
  network_adapters {
    network      = var.vsphere_network
    network_card = "vmxnet3"
  }

  iso_url        = var.rocky_iso_url
  iso_checksum   = var.rocky_iso_checksum
  http_directory = "${path.root}/http"
  boot_wait      = "5s"
  boot_command   = local.iso_boot_command

  communicator     = "ssh"
  ssh_username     = "root"
  ssh_password     = local.ssh_password
  ssh_timeout      = "30m"
  shutdown_command = "systemctl poweroff"

  # The OVF export (disk + descriptor + manifest); tools/make-ova.mjs pack it as one .ova file.
  export {
    force            = true
    output_directory = "${var.output_dir}/vsphere"
  }
}

source "amazon-ebs" "appliance" {
  region        = var.aws_region
  ami_regions   = var.aws_ami_regions
  ami_name      = "${local.image_name}-{{timestamp}}"
  instance_type = var.aws_instance_type
  subnet_id     = var.aws_subnet_id
  source_ami_filter {
    filters = {
      name                = var.aws_base_ami_name
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = [var.aws_base_ami_owner]
    most_recent = true
  }
  launch_block_device_mappings {
    device_name           = "/dev/sda1"
    volume_size           = ceil(var.disk_size_mb / 1024)
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }
  tags = {
    Name       = local.image_name
    twinroot   = var.appliance_version
    compatible = var.compatible
  }

  # Packer's temporary key pair, handed to the instance by cloud-init in the base image.
  communicator      = "ssh"
  ssh_username      = "root"
  ssh_timeout       = "20m"
  shutdown_behavior = "stop"
}

source "azure-arm" "appliance" {
  subscription_id = var.azure_subscription_id
  tenant_id       = var.azure_tenant_id
  client_id       = var.azure_client_id
  client_secret   = var.azure_client_secret

  location               = var.azure_location
  vm_size                = var.azure_vm_size
  os_type                = "Linux"
  image_url              = var.azure_base_vhd_url
  resource_group_name    = var.azure_resource_group
  storage_account        = var.azure_storage_account
  capture_container_name = "twinroot-images"
  capture_name_prefix    = local.image_name
  os_disk_size_gb        = ceil(var.disk_size_mb / 1024)
  azure_tags = {
    twinroot   = var.appliance_version
    compatible = var.compatible
  }

  communicator = "ssh"
  ssh_username = "root"
  ssh_timeout  = "20m"
}
