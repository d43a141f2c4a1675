#!/usr/bin/env node
// Packs a built appliance disk as an OVA and checks OVAs. Plain Node.js (>= 18) and qemu-img;
// no other dependencies, so it runs on any build machine.
//
//   make-ova.mjs pack --disk DISK --out FILE.ova [--name NAME] [--cpus N] [--memory-mb N]
//       DISK (qcow2, raw, vmdk, …) -> stream-optimized VMDK + OVF 1.0 descriptor + SHA256
//       manifest, in one ustar archive with the descriptor first (what vSphere/Workstation import).
//   make-ova.mjs check FILE.ova
//       the descriptor comes first and is well-formed; every file it references is in the
//       archive with its declared size; the manifest's SHA256 of every member matches; each disk
//       is a stream-optimized VMDK whose capacity is the descriptor's.
// Errors are one line on stderr and a non-zero exit.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = 'usage: make-ova.mjs pack --disk DISK --out FILE.ova [--name NAME] [--cpus N] [--memory-mb N] | check FILE.ova';

class Failure extends Error {}
const fail = (msg) => {
  throw new Failure(msg);
};

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.error) fail(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args[0]} failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  return r.stdout;
}

const xmlEscape = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The OVF 1.0 descriptor: one virtual system, BIOS, one SCSI disk, one NIC. */
export function ovfDescriptor({ name, vmdkName, vmdkSize, capacityBytes, cpus, memoryMb }) {
  const n = xmlEscape(name);
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
  xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
  xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
    <File ovf:id="file1" ovf:href="${xmlEscape(vmdkName)}" ovf:size="${vmdkSize}"/>
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="${capacityBytes}" ovf:capacityAllocationUnits="byte"
      ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Networks</Info>
    <Network ovf:name="VM Network"><Description>The appliance's network</Description></Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${n}">
    <Info>A twinroot A/B appliance</Info>
    <Name>${n}</Name>
    <OperatingSystemSection ovf:id="80" vmw:osType="rockylinux_64Guest">
      <Info>Guest operating system</Info>
      <Description>Rocky Linux 9 (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${n}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-14</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:ElementName>${cpus} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>${cpus}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:ElementName>${memoryMb} MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>${memoryMb}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="bios"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

function sha256File(file) {
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(4 * 2 ** 20);
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

function pack(opts) {
  const disk = opts.disk ?? fail('pack needs --disk DISK');
  const out = resolve(opts.out ?? fail('pack needs --out FILE.ova'));
  if (!out.endsWith('.ova')) fail('--out must end in .ova');
  const name = opts.name ?? basename(out, '.ova');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/.test(name)) fail(`--name must be letters, digits, . _ - (got ${name})`);
  const cpus = Number(opts.cpus ?? 2);
  const memoryMb = Number(opts['memory-mb'] ?? 2048);
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 128) fail('--cpus must be 1-128');
  if (!Number.isInteger(memoryMb) || memoryMb < 256) fail('--memory-mb must be an integer >= 256');
  if (!statSync(disk, { throwIfNoEntry: false })) fail(`--disk ${disk} does not exist`);
  const info = JSON.parse(run('qemu-img', ['info', '--output=json', '--', disk]));
  const work = mkdtempSync(join(dirname(out), '.make-ova-'));
  try {
    const vmdkName = `${name}-disk1.vmdk`;
    const ovfName = `${name}.ovf`;
    const mfName = `${name}.mf`;
    run('qemu-img', ['convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized,adapter_type=lsilogic', '--', disk, join(work, vmdkName)]);
    const vmdkSize = statSync(join(work, vmdkName)).size;
    writeFileSync(join(work, ovfName), ovfDescriptor({ name, vmdkName, vmdkSize, capacityBytes: info['virtual-size'], cpus, memoryMb }));
    const mf = [ovfName, vmdkName].map((f) => `SHA256(${f})= ${sha256File(join(work, f))}\n`).join('');
    writeFileSync(join(work, mfName), mf);
    // OVA = ustar, descriptor first, then manifest, then the disk.
    run('tar', ['--format=ustar', '--owner=0', '--group=0', '--numeric-owner', '-C', work, '-cf', `${out}.tmp`, ovfName, mfName, vmdkName]);
    renameSync(`${out}.tmp`, out);
    return { out, bytes: statSync(out).size, capacityBytes: info['virtual-size'] };
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(`${out}.tmp`, { force: true });
  }
}

/** The members of a ustar archive: name, size and offset of the data (read header by header). */
function tarMembers(file) {
  const fd = openSync(file, 'r');
  const members = [];
  try {
    const header = Buffer.alloc(512);
    const total = statSync(file).size;
    let pos = 0;
    while (pos + 512 <= total) {
      readSync(fd, header, 0, 512, pos);
      if (header.every((b) => b === 0)) break;
      const field = (from, len) => header.subarray(from, from + len).toString('latin1').replace(/\0.*$/s, '');
      const magic = field(257, 6);
      if (!magic.startsWith('ustar')) fail(`${file}: not a ustar archive (member ${members.length + 1} has magic "${magic}")`);
      const prefix = field(345, 155);
      const name = (prefix ? `${prefix}/` : '') + field(0, 100);
      const size = parseInt(field(124, 12).trim() || '0', 8);
      const type = field(156, 1) || '0';
      if (type !== '0') fail(`${file}: member ${name} is not a regular file`);
      if (pos + 512 + size > total) fail(`${file}: truncated inside ${name}`);
      members.push({ name, size, offset: pos + 512 });
      pos += 512 + Math.ceil(size / 512) * 512;
    }
  } finally {
    closeSync(fd);
  }
  return members;
}

function readMember(file, m, len = m.size) {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, m.offset);
    return buf;
  } finally {
    closeSync(fd);
  }
}

function sha256Member(file, m) {
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(4 * 2 ** 20);
  try {
    for (let done = 0; done < m.size; ) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, m.size - done), m.offset + done);
      if (n <= 0) fail(`${file}: short read in ${m.name}`);
      h.update(buf.subarray(0, n));
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Every element opened is closed, in order; no text outside the root. */
export function checkWellFormed(xml) {
  const body = xml.replace(/^\uFEFF?<\?xml[^?]*\?>\s*/, '').replace(/<!--[\s\S]*?-->/g, '');
  const stack = [];
  const tag = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g;
  let last = 0;
  for (let m; (m = tag.exec(body)); ) {
    if (/[<>]/.test(body.slice(last, m.index))) fail(`OVF descriptor is not well-formed near "${body.slice(last, m.index).trim().slice(0, 40)}"`);
    last = tag.lastIndex;
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      const open = stack.pop();
      if (open !== name) fail(`OVF descriptor is not well-formed: </${name}> closes <${open ?? 'nothing'}>`);
    } else if (!selfClosing) {
      stack.push(name);
    }
    if (stack.length === 0 && body.slice(last).trim() !== '') fail('OVF descriptor has content after its root element');
  }
  if (stack.length) fail(`OVF descriptor is not well-formed: <${stack.at(-1)}> is never closed`);
  if (/[<>]/.test(body.slice(last))) fail('OVF descriptor is not well-formed at its end');
}

const attr = (el, name) => el.match(new RegExp(`\\b${name}="([^"]*)"`))?.[1];

/** The VMDK sparse header: magic, stream-optimized create type, capacity in bytes. */
function vmdkFacts(head) {
  if (head.subarray(0, 4).toString('latin1') !== 'KDMV') fail('disk is not a sparse VMDK (no KDMV magic)');
  const capacity = Number(head.readBigUInt64LE(12)) * 512;
  const descOffset = Number(head.readBigUInt64LE(28)) * 512;
  const descSize = Number(head.readBigUInt64LE(36)) * 512;
  const descriptor = head.subarray(descOffset, descOffset + descSize).toString('latin1');
  const createType = descriptor.match(/createType="([^"]+)"/)?.[1];
  return { capacity, createType };
}

export function checkOva(file) {
  const members = tarMembers(file);
  if (members.length === 0) fail(`${file}: empty archive`);
  const [first] = members;
  if (!first.name.endsWith('.ovf')) fail(`${file}: the first member must be the .ovf descriptor (found ${first.name})`);
  const byName = new Map(members.map((m) => [m.name, m]));
  const ovf = readMember(file, first).toString('utf8');
  checkWellFormed(ovf);
  if (!/<Envelope\b[^>]*xmlns(:ovf)?="http:\/\/schemas\.dmtf\.org\/ovf\/envelope\/1"/.test(ovf)) fail('OVF descriptor is not an OVF 1.x Envelope');
  if (!/<VirtualSystem\b/.test(ovf)) fail('OVF descriptor has no VirtualSystem');
  const files = [...ovf.matchAll(/<File\b[^>]*>/g)].map(([el]) => ({ id: attr(el, 'ovf:id'), href: attr(el, 'ovf:href'), size: Number(attr(el, 'ovf:size')) }));
  if (files.length === 0) fail('OVF descriptor references no files');
  for (const f of files) {
    const m = byName.get(f.href) ?? fail(`OVF references ${f.href}, which is not in the archive`);
    if (m.size !== f.size) fail(`OVF says ${f.href} is ${f.size} bytes; the archive has ${m.size}`);
  }
  const disks = [...ovf.matchAll(/<Disk\b[^>]*>/g)].map(([el]) => ({ fileRef: attr(el, 'ovf:fileRef'), capacity: Number(attr(el, 'ovf:capacity')), units: attr(el, 'ovf:capacityAllocationUnits') ?? 'byte' }));
  if (disks.length === 0) fail('OVF descriptor has no Disk');
  for (const d of disks) {
    const f = files.find((x) => x.id === d.fileRef) ?? fail(`Disk refers to file id ${d.fileRef}, which References does not list`);
    if (d.units !== 'byte') fail(`Disk capacity units ${d.units} are not supported by this check`);
    const head = readMember(file, byName.get(f.href), Math.min(byName.get(f.href).size, 64 * 1024));
    const facts = vmdkFacts(head);
    if (facts.createType !== 'streamOptimized') fail(`${f.href} is a ${facts.createType ?? 'unknown'} VMDK, not streamOptimized`);
    if (facts.capacity !== d.capacity) fail(`${f.href} holds ${facts.capacity} bytes; the OVF says ${d.capacity}`);
  }
  const mf = members.find((m) => m.name.endsWith('.mf')) ?? fail(`${file}: no .mf manifest`);
  const listed = readMember(file, mf).toString('utf8').split('\n').filter(Boolean).map((line) => {
    const m = line.match(/^SHA256\((.+)\)= ([0-9a-f]{64})$/) ?? fail(`manifest line is not SHA256(name)= hex: ${line.slice(0, 80)}`);
    return { name: m[1], sha256: m[2] };
  });
  for (const m of members.filter((x) => x !== mf)) {
    const entry = listed.find((l) => l.name === m.name) ?? fail(`manifest does not list ${m.name}`);
    if (sha256Member(file, m) !== entry.sha256) fail(`${m.name} does not match its SHA256 in the manifest`);
  }
  return { members: members.map((m) => m.name), disks: disks.length, capacityBytes: disks[0].capacity };
}

function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { disk: { type: 'string' }, out: { type: 'string' }, name: { type: 'string' }, cpus: { type: 'string' }, 'memory-mb': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  const [cmd, ...rest] = positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (cmd === 'pack' && rest.length === 0) {
    const r = pack(values);
    const c = checkOva(r.out);
    console.log(`make-ova: ${r.out} (${r.bytes} bytes; disk capacity ${r.capacityBytes} bytes; ${c.members.join(', ')}): OVF checked`);
    return 0;
  }
  if (cmd === 'check' && rest.length === 1) {
    const c = checkOva(rest[0]);
    console.log(`make-ova: ${rest[0]} is a valid OVA (${c.members.join(', ')}; ${c.disks} stream-optimized disk, ${c.capacityBytes} bytes)`);
    return 0;
  }
  console.error(USAGE);
  return 2;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('make-ova.mjs')) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(`make-ova: ${err instanceof Failure ? err.message : err.stack ?? err}`);
    process.exitCode = err instanceof Failure || err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 1 : 70;
  }
}

export { pack, tarMembers };
