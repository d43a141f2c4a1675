import { readFileSync } from 'node:fs';

/**
 * A first-boot registration seed: `{"backendUrl": "https://…", "registerToken": "…"}`, handed to
 * a fresh appliance by whoever deploys it (cloud user data, a QEMU fw_cfg entry, a VMware
 * guestinfo property; see agent/hooks/first-boot). Checked here so a bad seed is one clear line.
 */
export interface RegisterSeed {
  backendUrl: string;
  registerToken: string;
}

export function parseRegisterSeed(text: string, source: string): RegisterSeed {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${source}: the registration seed is not JSON`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${source}: the registration seed must be a JSON object`);
  const { backendUrl, registerToken } = raw as Record<string, unknown>;
  if (typeof backendUrl !== 'string' || !/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(backendUrl)) throw new Error(`${source}: backendUrl must be an http(s) URL`);
  if (typeof registerToken !== 'string' || !/^[A-Za-z0-9_.-]{16,4096}$/.test(registerToken)) throw new Error(`${source}: registerToken is missing or is not a token`);
  return { backendUrl, registerToken };
}

export function readRegisterSeed(file: string): RegisterSeed {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the registration seed ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseRegisterSeed(text, file);
}
