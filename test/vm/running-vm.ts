import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * An appliance that runs on its own, as on a customer's hypervisor: one QEMU process for the
 * whole scenario, reboots stay inside it (no -no-reboot), user-mode networking (the host's
 * loopback is 10.0.2.2), no share and no test hook — only what the image itself does.
 */
export class RunningVm {
  private qemu?: ChildProcess;
  private stderr = '';
  readonly serialFile: string;

  constructor(private readonly workDir: string, private readonly disk: string, private readonly extraArgs: string[] = []) {
    this.serialFile = join(workDir, 'serial.log');
  }

  start(): void {
    this.qemu = spawn('qemu-system-x86_64', [
      '-accel', 'tcg,thread=multi', '-cpu', 'qemu64', '-smp', '2', '-m', '1024',
      '-nodefaults', '-vga', 'none', '-display', 'none',
      '-serial', `file:${this.serialFile}`,
      '-drive', `file=${this.disk},if=virtio,format=qcow2,cache=writeback`,
      '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0',
      ...this.extraArgs,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.qemu.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  get running(): boolean {
    return !!this.qemu && this.qemu.exitCode === null && this.qemu.signalCode === null;
  }

  /** Why QEMU is gone, for error messages. */
  exitNote(): string {
    return this.running ? 'running' : `QEMU exited (${this.qemu?.exitCode ?? this.qemu?.signalCode}): ${this.stderr.trim().slice(-500)}`;
  }

  serial(): string {
    if (!existsSync(this.serialFile)) return '';
    return readFileSync(this.serialFile, 'latin1').replace(new RegExp(String.fromCharCode(27) + '\\[[0-9;?]*[A-Za-z]', 'g'), '').replace(/\r/g, '');
  }

  /** The GRUB entries booted so far, in order (e.g. ['A', 'B', 'A']). */
  bootedSlots(): string[] {
    return [...this.serial().matchAll(/Booting `twinroot slot ([AB])'/g)].map((m) => m[1]!);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((ok) => this.qemu!.once('exit', ok));
    this.qemu!.kill('SIGKILL');
    await exited;
  }
}
