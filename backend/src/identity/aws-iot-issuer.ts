import { X509Certificate } from 'node:crypto';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateCertificateFromCsrCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeleteThingCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  UpdateCertificateCommand,
  UpdateThingCommand,
  type IoTClient,
} from '@aws-sdk/client-iot';
import type { IssuedCertificate } from '@twinroot/protocol';
import { DomainError } from '../domain/domain-error.js';
import { isAwsError, withAwsRetry, type RetryPolicy } from './aws-retry.js';
import type { CertificateIssuer, CertificateRef, CertificateSubject, Issued } from './issuer.js';

interface Logger {
  warn(o: object, msg?: string): void;
  info(o: object, msg?: string): void;
}

export interface AwsIotIssuerOptions {
  iot: IoTClient;
  /** The one IoT policy every appliance certificate gets (see backend/aws/iot-policy.json). */
  policyName: string;
  log: Logger;
  retry?: RetryPolicy;
}

/**
 * Appliance identities in AWS IoT Core: a thing per appliance (name = applianceId, attributes
 * customer and region), a certificate from the appliance's CSR (the key stays on the appliance),
 * the certificate attached to the thing and to the one policy whose variables confine a
 * connection to its own thing's client id and task topic.
 */
export class AwsIotIssuer implements CertificateIssuer {
  readonly kind = 'aws-iot' as const;
  /** Appliances trust the Amazon Root CA (their system store, or the agent's configured bundle). */
  readonly brokerCaPem = undefined;
  private readonly retry: RetryPolicy;

  constructor(private readonly opts: AwsIotIssuerOptions) {
    this.retry = opts.retry ?? { attempts: 5, baseMs: 200 };
  }

  private call<T>(what: string, idempotent: boolean, send: () => Promise<T>): Promise<T> {
    return withAwsRetry(send, { idempotent, policy: this.retry }).catch((err: Error) => {
      this.opts.log.warn({ call: what, err: `${err.name}: ${err.message}` }, 'aws iot: call failed');
      throw err;
    });
  }

  /** CreateThing is idempotent for the same attributes; ResourceAlreadyExists means other ones: they are updated. */
  private async ensureThing(s: CertificateSubject): Promise<void> {
    const attributes = { customer: s.customerId, region: s.region };
    try {
      await this.call('CreateThing', true, () => this.opts.iot.send(new CreateThingCommand({ thingName: s.applianceId, attributePayload: { attributes } })));
    } catch (err) {
      if (!isAwsError(err, 'ResourceAlreadyExistsException')) throw err;
      await this.call('UpdateThing', true, () => this.opts.iot.send(new UpdateThingCommand({ thingName: s.applianceId, attributePayload: { attributes, merge: false } })));
    }
  }

  async issue(s: CertificateSubject, csrPem: string): Promise<Issued> {
    try {
      await this.ensureThing(s);
      // Not retried on a timeout: a second call would create a second certificate.
      const created = await this.call('CreateCertificateFromCsr', false, () =>
        this.opts.iot.send(new CreateCertificateFromCsrCommand({ certificateSigningRequest: csrPem, setAsActive: true })),
      );
      const { certificateArn: arn, certificateId, certificatePem } = created;
      if (!arn || !certificateId || !certificatePem) throw new Error('CreateCertificateFromCsr answered without certificateArn, certificateId or certificatePem');
      try {
        await this.call('AttachPolicy', true, () => this.opts.iot.send(new AttachPolicyCommand({ policyName: this.opts.policyName, target: arn })));
        await this.call('AttachThingPrincipal', true, () => this.opts.iot.send(new AttachThingPrincipalCommand({ thingName: s.applianceId, principal: arn })));
      } catch (err) {
        await this.discard(arn, certificateId);
        throw err;
      }
      const expiresAt = new Date(new X509Certificate(certificatePem).validTo).toISOString();
      const certificate: IssuedCertificate = { certificateId, certificatePem: certificatePem.endsWith('\n') ? certificatePem : certificatePem + '\n', expiresAt };
      this.opts.log.info({ applianceId: s.applianceId, certificateId }, 'aws iot: certificate issued');
      return { certificate, ref: { certificateId, expiresAt, arn } };
    } catch (err) {
      if (err instanceof DomainError) throw err;
      throw new DomainError('certificate_issuer_unavailable', `AWS IoT Core: ${(err as Error).name}: ${(err as Error).message}`.slice(0, 400));
    }
  }

  /** A certificate made but not attached (a later call failed): deactivated and deleted, best effort. */
  private async discard(arn: string, certificateId: string): Promise<void> {
    try {
      await this.call('DetachPolicy', true, () => this.opts.iot.send(new DetachPolicyCommand({ policyName: this.opts.policyName, target: arn })));
      await this.call('UpdateCertificate', true, () => this.opts.iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' })));
      await this.call('DeleteCertificate', true, () => this.opts.iot.send(new DeleteCertificateCommand({ certificateId })));
    } catch (err) {
      this.opts.log.warn({ certificateId, err: (err as Error).message }, 'aws iot: could not discard an unattached certificate (it has no policy attached and grants nothing)');
    }
  }

  private async withdraw(applianceId: string, ref: CertificateRef, status: 'INACTIVE' | 'REVOKED'): Promise<void> {
    // Status first: an INACTIVE/REVOKED certificate is refused at once, whatever is still attached.
    await this.call('UpdateCertificate', true, () => this.opts.iot.send(new UpdateCertificateCommand({ certificateId: ref.certificateId, newStatus: status })));
    if (!ref.arn) return;
    const arn = ref.arn;
    await this.call('DetachThingPrincipal', true, () => this.opts.iot.send(new DetachThingPrincipalCommand({ thingName: applianceId, principal: arn }))).catch((err) => {
      if (!isAwsError(err, 'ResourceNotFoundException')) throw err;
    });
    await this.call('DetachPolicy', true, () => this.opts.iot.send(new DetachPolicyCommand({ policyName: this.opts.policyName, target: arn }))).catch((err) => {
      if (!isAwsError(err, 'ResourceNotFoundException')) throw err;
    });
  }

  async retire(applianceId: string, ref: CertificateRef): Promise<void> {
    await this.withdraw(applianceId, ref, 'INACTIVE');
  }

  async revoke(applianceId: string, refs: CertificateRef[]): Promise<void> {
    for (const ref of refs) await this.withdraw(applianceId, ref, 'REVOKED');
    try {
      await this.call('DeleteThing', true, () => this.opts.iot.send(new DeleteThingCommand({ thingName: applianceId })));
    } catch (err) {
      // Detaching is eventually consistent: the thing may still list a principal for a moment. A thing without an active certificate grants nothing.
      if (!isAwsError(err, 'ResourceNotFoundException')) this.opts.log.warn({ applianceId, err: (err as Error).message }, 'aws iot: thing not deleted (it has no usable certificate)');
    }
  }
}
