# The provisioning every target shares, in order: check the layout, install Node.js, the agent
# bundle, the grub-scripts, the units and the pinned key, make slot A bootable by the boot layer,
# clean what must differ per clone, remove the build's own access, (qemu: export the root
# filesystem for the upgrade package of this version), zero free space.

locals {
  stage = "/var/tmp/twinroot-build"
  provision_env = [
    "TWINROOT_BUILD_DIR=${local.stage}",
    "TWINROOT_VERSION=${var.appliance_version}",
    "TWINROOT_COMPATIBLE=${var.compatible}",
    "TWINROOT_KERNEL_ARGS=${var.kernel_args}",
    "TWINROOT_GRUB_SERIAL=${var.grub_serial ? "yes" : "no"}",
  ]
}

build {
  sources = [
    "source.qemu.appliance",
    "source.vmware-iso.appliance",
    "source.vsphere-iso.appliance",
    "source.amazon-ebs.appliance",
    "source.azure-arm.appliance",
  ]

  provisioner "shell" {
    inline = ["rm -rf ${local.stage}", "mkdir -p -m 0700 ${local.stage}/grub-scripts"]
  }

  provisioner "file" {
    source      = var.agent_bundle
    destination = "${local.stage}/twinroot-agent.tar.gz"
  }

  provisioner "file" {
    source      = "${local.grub_scripts_dir}/"
    destination = "${local.stage}/grub-scripts"
  }

  provisioner "file" {
    source      = var.release_public_key
    destination = "${local.stage}/release-signing.pub"
  }

  provisioner "shell" {
    environment_vars = local.provision_env
    scripts = [
      "${path.root}/scripts/10-check-layout.sh",
      "${path.root}/scripts/20-install-node.sh",
      "${path.root}/scripts/30-install-twinroot.sh",
      "${path.root}/scripts/40-configure-boot.sh",
      "${path.root}/scripts/80-clean-for-clones.sh",
      "${path.root}/scripts/87-remove-build-access.sh",
    ]
  }

  # The qemu build is the reference build: it also hands back the root filesystem it made, the
  # input of `twinroot-image build --rootfs` for this version's upgrade package.
  provisioner "shell" {
    only             = ["qemu.appliance"]
    environment_vars = local.provision_env
    script           = "${path.root}/scripts/85-export-rootfs.sh"
  }

  provisioner "file" {
    only        = ["qemu.appliance"]
    direction   = "download"
    source      = "/data/twinroot-rootfs.tar.zst"
    destination = "${var.output_dir}/qemu/rootfs.tar.zst"
  }

  provisioner "shell" {
    environment_vars = local.provision_env
    script           = "${path.root}/scripts/90-finish.sh"
  }
}
