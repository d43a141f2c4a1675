import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, PLAIN_TEXT_PATTERN, Slot, Timestamp, Version } from './common.js';

/** A certificate's id at its issuer: 64 hex digits (the embedded CA's is the SHA-256 of the DER; AWS IoT Core's certificateId). */
export const CertificateId = Type.String({ pattern: '^[0-9a-fA-F]{64}$' });
export const CertificatePem = Type.String({ minLength: 64, maxLength: 16384, pattern: '^-----BEGIN CERTIFICATE-----' });
export const CertificateRequestPem = Type.String({ minLength: 64, maxLength: 8192, pattern: '^-----BEGIN CERTIFICATE REQUEST-----' });
export const MQTT_AUTHS = ['token', 'certificate'] as const;
export const MqttAuth = Type.Union(MQTT_AUTHS.map((a) => Type.Literal(a)));
export type MqttAuth = (typeof MQTT_AUTHS)[number];

/** An appliance's MQTT client certificate, as the backend's issuer made it. */
export const IssuedCertificate = Type.Object(
  {
    certificateId: CertificateId,
    certificatePem: CertificatePem,
    expiresAt: Timestamp,
  },
  { additionalProperties: false },
);
export type IssuedCertificate = Static<typeof IssuedCertificate>;

export const RegisterRequest = Type.Object(
  {
    registerToken: Type.String({ minLength: 16, maxLength: 4096 }),
    hostname: Name,
    cpu: Type.String({ minLength: 1, maxLength: 256, pattern: PLAIN_TEXT_PATTERN }),
    memoryMb: Type.Integer({ minimum: 1, maximum: 16 * 1024 * 1024 }),
    ip: Type.String({ minLength: 2, maxLength: 45, pattern: '^[0-9A-Fa-f:.]+$' }),
    version: Version,
    slot: Slot,
    /** Chosen once by the appliance for its registration: a retry after a lost answer gets the same appliance. */
    idempotencyKey: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{16,128}$' })),
    /** PKCS#10 request for the appliance's MQTT client certificate; its private key never leaves the appliance. */
    csr: Type.Optional(CertificateRequestPem),
  },
  { additionalProperties: false },
);
export type RegisterRequest = Static<typeof RegisterRequest>;

export const MqttSettings = Type.Object(
  {
    url: Type.String({ pattern: '^(mqtts?|tcp|ssl|wss?)://', maxLength: 2048 }),
    clientId: Id,
    topic: Type.String({ minLength: 1, maxLength: 256 }),
    /** How the appliance logs in: its token as the password (default), or its client certificate (mTLS). */
    auth: Type.Optional(MqttAuth),
    /** The CA that signed the broker's server certificate, when it is not a public one (the embedded broker's). */
    caPem: Type.Optional(CertificatePem),
  },
  { additionalProperties: false },
);
export type MqttSettings = Static<typeof MqttSettings>;

export const RegisterResponse = Type.Object(
  {
    applianceId: Id,
    applianceToken: Type.String({ minLength: 32, maxLength: 512 }),
    tokenExpiresAt: Timestamp,
    mqtt: MqttSettings,
    /** Issued from the request's csr when the backend has a certificate issuer. */
    certificate: Type.Optional(IssuedCertificate),
  },
  { additionalProperties: false },
);
export type RegisterResponse = Static<typeof RegisterResponse>;

/** The daily refresh: a new token, and a new certificate when a csr is sent (10 days before the old one expires). */
export const TokenRefreshRequest = Type.Object({ csr: Type.Optional(CertificateRequestPem) }, { additionalProperties: false });
export type TokenRefreshRequest = Static<typeof TokenRefreshRequest>;

export const TokenRefreshResponse = Type.Object(
  {
    applianceToken: Type.String({ minLength: 32, maxLength: 512 }),
    tokenExpiresAt: Timestamp,
    certificate: Type.Optional(IssuedCertificate),
    /** The broker settings, sent with a new certificate (they may change with it). */
    mqtt: Type.Optional(MqttSettings),
  },
  { additionalProperties: false },
);
export type TokenRefreshResponse = Static<typeof TokenRefreshResponse>;
