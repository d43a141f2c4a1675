#!/usr/bin/env bash
# Validates the templates for every target without building anything and without credentials:
# HCL syntax, then each source's full configuration check with placeholder inputs (no cloud call
# is made by `packer validate`), through run-packer.sh (Packer 1.6 and current Packer alike).
#   packer/validate.sh        (needs `packer` on PATH; CI installs Debian's packer)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "packer-validate: $*" >&2; exit 1; }
command -v packer >/dev/null || die "packer is not installed (apt-get install packer, or https://developer.hashicorp.com/packer/install)"
version=$(packer version | head -n1 | sed -n 's/^Packer v\([0-9.]*\).*/\1/p')
[ -n "$version" ] || die "cannot read packer's version"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Placeholder inputs: files that exist and parse, values of the right shape.
ssh-keygen -q -t ed25519 -N '' -f "$work/build-key" >/dev/null
printf -- '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n-----END PUBLIC KEY-----\n' >"$work/release.pub"
: >"$work/agent.tar.gz"
vars=(
  -var "agent_bundle=$work/agent.tar.gz" -var "release_public_key=$work/release.pub"
  -var "rocky_iso_checksum=sha256:$(printf '0%.0s' {1..64})" -var "build_password=placeholder-password"
  -var "vsphere_server=vcenter.example.com" -var "vsphere_username=builder" -var "vsphere_password=placeholder-password"
  -var "vsphere_datacenter=dc1" -var "vsphere_cluster=cluster1" -var "vsphere_datastore=datastore1"
  -var "azure_subscription_id=00000000-0000-0000-0000-000000000000" -var "azure_tenant_id=00000000-0000-0000-0000-000000000000"
  -var "azure_client_id=00000000-0000-0000-0000-000000000000" -var "azure_client_secret=placeholder-secret"
  -var "azure_resource_group=images" -var "azure_storage_account=images" -var "azure_base_vhd_url=https://images.blob.core.windows.net/base/rocky9-ab.vhd"
)

"$here/run-packer.sh" validate -syntax-only >/dev/null || die "syntax check failed"
packer fmt -check "$here" >/dev/null || die "not in canonical format: $(packer fmt -check "$here" | tr '\n' ' ')(run: packer fmt packer/)"
for source in qemu vmware-iso vsphere-iso amazon-ebs azure-arm; do
  out=$("$here/run-packer.sh" validate "${vars[@]}" -only="$source.appliance" 2>&1) || die "$source: $(echo "$out" | grep -v '^\s*$' | tr '\n' ' ' | cut -c1-400)"
done
# The local build from a disk image (the VM tests' path) is a configuration of its own.
out=$("$here/run-packer.sh" validate "${vars[@]}" -var "qemu_source_disk=$work/base.qcow2" -var "ssh_private_key_file=$work/build-key" \
  -only=qemu.appliance 2>&1) || die "qemu (from a disk image): $(echo "$out" | grep -v '^\s*$' | tr '\n' ' ' | cut -c1-400)"
echo "packer-validate: packer $version: syntax, format and the configuration of qemu (ISO and disk image), vmware-iso, vsphere-iso, amazon-ebs, azure-arm are valid"
