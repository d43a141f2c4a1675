import { randomBytes } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DescribeEndpointCommand, IoTClient } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import type { Config } from '../config/keys.js';
import { ConfigError } from '../config/load.js';
import type { StoreClients } from '../store/client.js';
import type { TableNames } from '../store/tables.js';
import { applianceTokenMatches } from '../auth/appliance-token.js';
import { certificateCredential, honouredCertificate } from '../domain/mqtt-credentials.js';
import type { CertificateRef } from '../domain/appliance-record.js';
import { EmbeddedCa, loadOrCreateCa } from '../identity/embedded-ca.js';
import { AwsIotIssuer } from '../identity/aws-iot-issuer.js';
import type { MqttLogin } from '../services/appliances.js';
import { startEmbeddedBroker } from './embedded.js';
import { connectExternalBroker } from './external.js';
import { iotDataPlaneBroker } from './iot-data-plane.js';
import type { ApplianceCertificateCheck, ApplianceCredentialCheck, TaskBroker } from './types.js';

interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

/** Pure: the login methods mqttAuth names. */
export function mqttAuthMethods(value: string): { token: boolean; certificate: boolean } {
  const m = value.split(',').map((a) => a.trim());
  return { token: m.includes('token'), certificate: m.includes('certificate') };
}

/**
 * The broker the backend publishes tasks through, and how appliances log in to it, from the
 * configuration: the embedded aedes (token and/or certificate listeners, the embedded CA), AWS
 * IoT Core (data-plane publish, AwsIotIssuer), or an external broker (token-less: its own users).
 */
export async function startBroker(
  config: Config,
  deps: { dataDir: string; store: StoreClients; tables: TableNames; log: Logger; now: () => number },
): Promise<{ broker: TaskBroker; login: MqttLogin }> {
  const { store, tables } = deps;
  const checkCredentials: ApplianceCredentialCheck = async (applianceId, token) => {
    const out = await store.doc.send(new GetCommand({ TableName: tables.appliances, Key: { applianceId }, ProjectionExpression: 'tokenHash, tokenExpiresAt' }));
    const hash = out.Item?.tokenHash;
    if (typeof hash !== 'string' || !applianceTokenMatches(token, hash)) return null;
    return { fingerprint: hash, expiresAtMs: Date.parse(String(out.Item?.tokenExpiresAt)) || 0 };
  };
  const checkCertificate: ApplianceCertificateCheck = async (applianceId, certificateId) => {
    const out = await store.doc.send(new GetCommand({ TableName: tables.appliances, Key: { applianceId }, ProjectionExpression: 'certificate, previousCertificate', ConsistentRead: true }));
    if (!out.Item) return null;
    const ref = honouredCertificate(out.Item as { certificate?: CertificateRef; previousCertificate?: CertificateRef }, certificateId);
    return ref ? { fingerprint: certificateCredential(certificateId), expiresAtMs: Date.parse(ref.expiresAt) || 0 } : null;
  };

  if (config.mqttUrl === 'aws-iot') {
    const iot = new IoTClient({ region: config.awsIotRegion });
    let endpoint = config.awsIotEndpoint;
    if (!endpoint) {
      const out = await iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' }));
      if (!out.endpointAddress) throw new ConfigError('AWS IoT Core: DescribeEndpoint (iot:Data-ATS) returned no address; set awsIotEndpoint');
      endpoint = out.endpointAddress;
    }
    const appliancesUrl = config.mqttTlsPublicUrl || `mqtts://${endpoint}:8883`;
    const broker = iotDataPlaneBroker({ client: new IoTDataPlaneClient({ region: config.awsIotRegion, endpoint: `https://${endpoint}` }), endpoint, appliancesUrl });
    const issuer = new AwsIotIssuer({ iot, policyName: config.awsIotPolicyName, log: deps.log });
    deps.log.info({ endpoint, policy: config.awsIotPolicyName }, 'mqtt: AWS IoT Core (data-plane publish, certificates from CSRs)');
    return { broker: { ...broker, certificateUrl: appliancesUrl, close: async () => (await broker.close(), iot.destroy()) }, login: { tokenUrl: () => undefined, certificateUrl: () => appliancesUrl, issuer } };
  }

  if (config.mqttUrl === 'embedded') {
    const methods = mqttAuthMethods(config.mqttAuth);
    let issuer: EmbeddedCa | null = null;
    let certificates;
    if (methods.certificate) {
      issuer = new EmbeddedCa(await loadOrCreateCa({ dataDir: deps.dataDir, certFile: config.caCertFile, keyFile: config.caKeyFile }), { validityDays: config.certificateValidityDays });
      const publicHost = config.mqttTlsPublicUrl ? new URL(config.mqttTlsPublicUrl).hostname : '';
      const names = [publicHost, config.mqttHost, 'localhost', '127.0.0.1', ...config.mqttTlsNames.split(',').map((n) => n.trim())];
      const server = await issuer.brokerServerCertificate(names);
      certificates = { port: config.mqttTlsPort, publicUrl: config.mqttTlsPublicUrl, ...server, caPem: issuer.brokerCaPem, checkCertificate };
    }
    const broker = await startEmbeddedBroker({
      host: config.mqttHost,
      port: methods.token ? config.mqttPort : null,
      publicUrl: config.mqttPublicUrl,
      checkCredentials,
      ...(certificates ? { certificates } : {}),
      log: deps.log,
      maxPacketBytes: config.mqttMaxPacketBytes,
      connectTimeoutMs: config.mqttConnectTimeoutSeconds * 1000,
      maxPendingConnections: config.mqttMaxPendingConnections,
      now: deps.now,
    });
    return {
      broker,
      login: { tokenUrl: () => (methods.token ? broker.url : undefined), certificateUrl: () => broker.certificateUrl, issuer },
    };
  }

  const broker = await connectExternalBroker({
    url: config.mqttUrl,
    clientId: `twinroot-backend-${randomBytes(4).toString('hex')}`,
    username: config.mqttUsername,
    password: config.mqttPassword,
    caFile: config.mqttCaFile,
    certFile: config.mqttCertFile,
    keyFile: config.mqttKeyFile,
    log: deps.log,
  });
  return { broker, login: { tokenUrl: () => config.mqttPublicUrl || broker.url, certificateUrl: () => undefined, issuer: null } };
}
