// @peculiar/x509 needs a Reflect metadata polyfill and a WebCrypto provider before first use;
// every module of the backend that handles certificates imports it from here.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

/** ECDSA P-256 with SHA-256: what the embedded CA signs with (AWS IoT Core accepts it too). */
export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
