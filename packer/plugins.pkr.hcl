# Plugins for Packer >= 1.7 (`packer init packer/`). Packer 1.6 has these builders built in and
# does not know this block; packer/validate.sh leaves this file out there.
packer {
  required_version = ">= 1.6.6"
  required_plugins {
    qemu = {
      version = ">= 1.1.0"
      source  = "github.com/hashicorp/qemu"
    }
    vmware = {
      version = ">= 1.0.11"
      source  = "github.com/hashicorp/vmware"
    }
    vsphere = {
      version = ">= 1.2.4"
      source  = "github.com/hashicorp/vsphere"
    }
    amazon = {
      version = ">= 1.3.0"
      source  = "github.com/hashicorp/amazon"
    }
    azure = {
      version = ">= 2.0.0"
      source  = "github.com/hashicorp/azure"
    }
  }
}
