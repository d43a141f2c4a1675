import type { IssuedCertificate } from '@twinroot/protocol';

/** Who the certificate is for. The issuer names the certificate after the appliance, whatever the CSR's subject says. */
export interface CertificateSubject {
  applianceId: string;
  customerId: string;
  region: string;
}

import type { CertificateRef } from '../domain/appliance-record.js';

export type { CertificateRef };

export interface Issued {
  certificate: IssuedCertificate;
  ref: CertificateRef;
}

/**
 * Issues and withdraws appliances' MQTT client certificates. Two implementations behind this
 * interface, chosen by configuration: the backend's embedded CA (for its own mTLS broker) and
 * AWS IoT Core (things, certificates from CSRs, one policy).
 */
export interface CertificateIssuer {
  readonly kind: 'embedded' | 'aws-iot';
  /** PEM of the CA the broker's server certificate chains to, handed to appliances; undefined: a public CA (Amazon Root CA). */
  readonly brokerCaPem: string | undefined;
  /** Signs the appliance's CSR (already checked by checkCertificateRequest). */
  issue(subject: CertificateSubject, csrPem: string): Promise<Issued>;
  /** The old certificate of a completed rotation: no longer usable (AWS: INACTIVE and detached). */
  retire(applianceId: string, ref: CertificateRef): Promise<void>;
  /** A decommissioned appliance's certificates: never usable again (AWS: REVOKED and detached, then the thing deleted). */
  revoke(applianceId: string, refs: CertificateRef[]): Promise<void>;
}
