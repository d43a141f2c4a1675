import { x509 } from './x509.js';
import { DomainError } from '../domain/domain-error.js';

/** The key types an appliance's certificate may have: what AWS IoT Core accepts, and nothing weaker. */
const EC_CURVES = ['P-256', 'P-384'];
const RSA_BITS = { min: 2048, max: 4096 };

/**
 * A PKCS#10 certificate request checked the way an issuer must before signing it: it parses,
 * it is signed by the key it carries (so the sender holds that key), and the key is ECDSA
 * P-256/P-384 or RSA 2048-4096. Its subject is ignored: the issuer names the appliance itself.
 */
export async function checkCertificateRequest(pem: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    throw new DomainError('csr_invalid', `the csr does not parse: ${(err as Error).message.slice(0, 200)}`);
  }
  const alg = csr.publicKey.algorithm as { name: string; namedCurve?: string; modulusLength?: number };
  const okKey =
    (alg.name === 'ECDSA' && EC_CURVES.includes(alg.namedCurve ?? '')) ||
    (alg.name === 'RSASSA-PKCS1-v1_5' && (alg.modulusLength ?? 0) >= RSA_BITS.min && (alg.modulusLength ?? 0) <= RSA_BITS.max);
  if (!okKey) throw new DomainError('csr_invalid', `the csr's key is ${alg.name}${alg.namedCurve ? ` ${alg.namedCurve}` : ''}${alg.modulusLength ? ` ${alg.modulusLength}` : ''}; expected ECDSA P-256/P-384 or RSA 2048-4096`);
  let verified = false;
  try {
    verified = await csr.verify();
  } catch {
    verified = false;
  }
  if (!verified) throw new DomainError('csr_invalid', 'the csr is not signed by the key it carries');
  return csr;
}
