import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { bash, log, repoRoot } from './harness.js';

/**
 * The appliance image as a platform team builds it: packer/ (the qemu source, from the VM
 * harness's base disk instead of the Rocky ISO, which cannot be downloaded here) with the real
 * provisioners over SSH, then packer/tools/make-ova.mjs. Not cached: this is what is under test.
 */

export const VM_CACHE = process.env.TWINROOT_VM_CACHE ?? '/var/cache/twinroot-vm';
export const TEST_COMPATIBLE = 'twinroot-vm-test';
// The VM base image has no / in its fstab: the kernel mounts the root read-write itself.
const KERNEL_ARGS = 'rw console=ttyS0,115200 quiet cryptomgr.notests';

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface PackerImage {
  qcow2: string;
  /** The root filesystem the build exported (85-export-rootfs.sh), tar + zstd. */
  rootfsTar: string;
  ova: string;
  ovaCheck: string;
  buildSeconds: number;
  packerLog: string;
}

export async function buildAgentBundle(outDir: string): Promise<string> {
  const out = await bash(`bash ${q(join(repoRoot, 'scripts/build-agent-bundle.sh'))} ${q(outDir)}`);
  return out.trim().split('\n').pop()!;
}

export async function buildPackerImage(o: { golden: string; work: string; agentBundle: string; releasePublicKey: string; version: string }): Promise<PackerImage> {
  const out = join(o.work, 'packer-output');
  const packerLog = join(o.work, 'packer.log');
  mkdirSync(o.work, { recursive: true });
  const vars: Record<string, string> = {
    qemu_source_disk: o.golden,
    ssh_private_key_file: join(VM_CACHE, 'build-ssh-key'),
    qemu_accelerator: 'tcg',
    output_dir: out,
    agent_bundle: o.agentBundle,
    release_public_key: o.releasePublicKey,
    appliance_version: o.version,
    compatible: TEST_COMPATIBLE,
    kernel_args: KERNEL_ARGS,
    memory_mb: '1024',
  };
  const args = Object.entries(vars).map(([k, v]) => `-var ${q(`${k}=${v}`)}`).join(' ');
  const started = Date.now();
  await bash(`
    PACKER_CACHE_DIR=${q(join(o.work, 'packer_cache'))} ${q(join(repoRoot, 'packer/run-packer.sh'))} build -force -color=false -only=qemu.appliance ${args} >${q(packerLog)} 2>&1 \
      || { echo "packer build failed; last lines of ${packerLog}:" >&2; tail -25 ${q(packerLog)} >&2; exit 1; }`).catch((err: Error) => {
    throw new Error(`${err.message}\n(see ${packerLog})`);
  });
  const buildSeconds = (Date.now() - started) / 1000;
  log(`packer build (qemu, TCG, from the base disk): ${buildSeconds.toFixed(0)} s`);
  const qcow2 = join(out, 'qemu', `twinroot-appliance-${o.version}.qcow2`);
  const rootfsTar = join(out, 'qemu', 'rootfs.tar.zst');
  for (const f of [qcow2, rootfsTar]) if (!existsSync(f)) throw new Error(`packer build made no ${f}`);
  const ova = join(o.work, `twinroot-appliance-${o.version}.ova`);
  const t = Date.now();
  const ovaCheck = (await bash(`node ${q(join(repoRoot, 'packer/tools/make-ova.mjs'))} pack --disk ${q(qcow2)} --out ${q(ova)} --cpus 2 --memory-mb 2048`)).trim();
  log(`OVA: ${((Date.now() - t) / 1000).toFixed(0)} s: ${ovaCheck}`);
  return { qcow2, rootfsTar, ova, ovaCheck, buildSeconds, packerLog };
}

/** The exported root filesystem, unpacked as it was (owners, xattrs, ACLs), for image-build --rootfs. */
export async function unpackRootfs(rootfsTar: string, dir: string): Promise<void> {
  await bash(`rm -rf ${q(dir)} && mkdir -p ${q(dir)} && tar -I zstd -C ${q(dir)} --numeric-owner --xattrs --xattrs-include='*' --acls -xpf ${q(rootfsTar)}`);
}
