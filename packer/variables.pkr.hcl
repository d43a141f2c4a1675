# Inputs of the appliance image build. Every target shares the provisioning; the target-specific
# ones are grouped below. `packer build -var-file=my.pkrvars.hcl -only=<source> packer/`.

# --- The appliance -----------------------------------------------------------------------------

variable "appliance_version" {
  type        = string
  default     = "1.0.0"
  description = "Version of this image (semver); written as slot A's version marker and reported by the agent."
}

variable "compatible" {
  type        = string
  default     = "twinroot-va-rocky9-x86_64"
  description = "Upgrade packages this appliance accepts (must equal a manifest's `compatible`)."
}

variable "agent_bundle" {
  type        = string
  description = "The agent bundle tarball made by scripts/build-agent-bundle.sh (not a git checkout)."
}

variable "release_public_key" {
  type        = string
  description = "Ed25519 public key (PEM) that release manifests are signed with; pinned on the appliance."
}

variable "grub_scripts_dir" {
  type        = string
  default     = ""
  description = "The grub-scripts directory to install; empty: ../grub-scripts next to this template."
}

variable "kernel_args" {
  type        = string
  default     = "ro console=tty0 console=ttyS0,115200"
  description = "Extra kernel arguments of both slots (KERNEL_ARGS in /etc/twinroot/slots.conf)."
}

variable "grub_serial" {
  type        = bool
  default     = true
  description = "GRUB's menu on the serial console as well (useful on every hypervisor's serial log)."
}

# --- Disk layout (DESIGN.md): BIOS boot + /boot + VG VA with root, back, data, image ------------

variable "disk_size_mb" {
  type        = number
  default     = 40960
  description = "Size of the appliance disk (MiB)."
}

variable "boot_size_mb" {
  type        = number
  default     = 1024
  description = "The plain /boot partition (MiB): both slots' kernels and initramfs, GRUB, grubenv."
}

variable "root_size_mb" {
  type        = number
  default     = 10240
  description = "Each root slot, VA/root (A) and VA/back (B), MiB."
}

variable "data_size_mb" {
  type        = number
  default     = 8192
  description = "VA/data (MiB): agent state, downloads (an upgrade package must fit), customer data."
}

variable "image_size_mb" {
  type        = number
  default     = 8192
  description = "VA/image (MiB): container images and service bundles."
}

# --- Build access ------------------------------------------------------------------------------

variable "build_password" {
  type        = string
  default     = ""
  sensitive   = true
  description = "Root password for the build's SSH session on ISO (kickstart) builds; the build locks it again. Empty: key only."
}

variable "ssh_private_key_file" {
  type        = string
  default     = ""
  description = "Private key the build logs in with as root (qemu from a disk image); empty: build_password."
}

variable "cpus" {
  type    = number
  default = 2
}

variable "memory_mb" {
  type    = number
  default = 2048
}

variable "output_dir" {
  type        = string
  default     = "output"
  description = "Where local builds (qemu, vmware-iso, vsphere export) write their images; one subdirectory per target."
}

# --- Rocky Linux 9 installation media (kickstart builds) -----------------------------------------

variable "rocky_iso_url" {
  type        = string
  default     = "https://download.rockylinux.org/pub/rocky/9/isos/x86_64/Rocky-9-latest-x86_64-minimal.iso"
  description = "Rocky Linux 9 minimal (or DVD) ISO."
}

variable "rocky_iso_checksum" {
  type        = string
  default     = "file:https://download.rockylinux.org/pub/rocky/9/isos/x86_64/CHECKSUM"
  description = "The ISO's checksum (sha256:... or file:URL of the CHECKSUM list)."
}

# --- qemu ----------------------------------------------------------------------------------------

variable "qemu_source_disk" {
  type        = string
  default     = ""
  description = "Empty: install from the Rocky ISO with the kickstart. A qcow2 path: start from that disk (already laid out as DESIGN.md says) instead, e.g. the VM tests' base disk."
}

variable "qemu_accelerator" {
  type        = string
  default     = "kvm"
  description = "kvm, or tcg where the build machine has no KVM (slow)."
}

variable "qemu_headless" {
  type    = bool
  default = true
}

# --- VMware (vSphere and Workstation/Fusion) -----------------------------------------------------

variable "vsphere_server" {
  type    = string
  default = ""
}

variable "vsphere_username" {
  type    = string
  default = ""
}

variable "vsphere_password" {
  type      = string
  default   = ""
  sensitive = true
}

variable "vsphere_insecure" {
  type        = bool
  default     = false
  description = "Accept vCenter's self-signed certificate."
}

variable "vsphere_datacenter" {
  type    = string
  default = ""
}

variable "vsphere_cluster" {
  type    = string
  default = ""
}

variable "vsphere_datastore" {
  type    = string
  default = ""
}

variable "vsphere_network" {
  type    = string
  default = "VM Network"
}

variable "vsphere_folder" {
  type    = string
  default = ""
}

# --- AWS -----------------------------------------------------------------------------------------

variable "aws_region" {
  type    = string
  default = "us-east-1"
}

variable "aws_ami_regions" {
  type        = list(string)
  default     = []
  description = "Further regions the AMI is copied to."
}

variable "aws_base_ami_name" {
  type        = string
  default     = "twinroot-base-rocky9-*"
  description = "Name filter of the base AMI: the kickstart-built disk imported once (aws ec2 import-image), so it has the A/B layout."
}

variable "aws_base_ami_owner" {
  type    = string
  default = "self"
}

variable "aws_instance_type" {
  type    = string
  default = "t3.medium"
}

variable "aws_subnet_id" {
  type    = string
  default = ""
}

# --- Azure ---------------------------------------------------------------------------------------

variable "azure_subscription_id" {
  type    = string
  default = ""
}

variable "azure_tenant_id" {
  type    = string
  default = ""
}

variable "azure_client_id" {
  type    = string
  default = ""
}

variable "azure_client_secret" {
  type      = string
  default   = ""
  sensitive = true
}

variable "azure_location" {
  type    = string
  default = "westeurope"
}

variable "azure_resource_group" {
  type        = string
  default     = ""
  description = "Resource group of the storage account the VHD is captured into."
}

variable "azure_storage_account" {
  type    = string
  default = ""
}

variable "azure_base_vhd_url" {
  type        = string
  default     = ""
  description = "The kickstart-built base disk uploaded as a page-blob VHD (it has the A/B layout)."
}

variable "azure_vm_size" {
  type    = string
  default = "Standard_D2s_v3"
}
