import type { ApplianceRecord, CertificateRef } from './appliance-record.js';

/** How a session opened with a client certificate is named among an appliance's credentials (token sessions: the token's hash). */
export function certificateCredential(certificateId: string): string {
  return `cert:${certificateId}`;
}

/** Pure: every credential an appliance's MQTT session may have been opened with and still be valid. */
export function mqttCredentials(a: Pick<ApplianceRecord, 'tokenHash' | 'certificate' | 'previousCertificate'>): string[] {
  return [a.tokenHash, ...[a.certificate, a.previousCertificate].filter((c): c is CertificateRef => !!c).map((c) => certificateCredential(c.certificateId))];
}

/** Pure: the certificate of the record with this id, if the record still honours it. */
export function honouredCertificate(a: Pick<ApplianceRecord, 'certificate' | 'previousCertificate'>, certificateId: string): CertificateRef | null {
  return [a.certificate, a.previousCertificate].find((c) => c?.certificateId === certificateId) ?? null;
}

/**
 * Pure: the records after a new certificate is issued. The certificate the appliance is known to
 * use stays valid as `previousCertificate` until a heartbeat shows the new one in use; a current
 * certificate that never came into use (a rotation whose answer was lost) is retired at once.
 */
export function afterNewCertificate(a: Pick<ApplianceRecord, 'certificate' | 'previousCertificate'>, issued: CertificateRef): { certificate: CertificateRef; previousCertificate?: CertificateRef; retireNow: CertificateRef[] } {
  if (!a.certificate) return { certificate: issued, retireNow: [] };
  if (a.previousCertificate) return { certificate: issued, previousCertificate: a.previousCertificate, retireNow: [a.certificate] };
  return { certificate: issued, previousCertificate: a.certificate, retireNow: [] };
}

/** Pure: a heartbeat says which certificate is in use; when it is the new one of a rotation, the previous one can go. */
export function rotationCompleted(a: Pick<ApplianceRecord, 'certificate' | 'previousCertificate'>, inUse: string | undefined): CertificateRef | null {
  return inUse && a.previousCertificate && a.certificate?.certificateId === inUse ? a.previousCertificate : null;
}
