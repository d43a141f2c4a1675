/**
 * Every configuration key of the backend, in one table: the loader, the validation and the
 * README's configuration table are all made from it. File keys are camelCase; each key's
 * environment variable is TWINROOT_ + its SCREAMING_SNAKE name.
 */
export type KeyType = 'string' | 'port' | 'seconds' | 'count' | 'url-or-mode' | 'level' | 'path' | 'secret' | 'cron';

export interface KeySpec {
  type: KeyType;
  default: string | number;
  help: string;
}

export const CONFIG_KEYS = {
  mode: { type: 'string', default: 'development', help: '"development" (keys generated into dataDir when not given, the embedded stack) or "production": the start is refused unless every key every instance must share is configured (operatorKey, registerTokenKeyFile, releasePublicKeyFile; caCertFile/caKeyFile for certificate logins to the embedded broker), the store is not the embedded one, and the embedded broker takes no id + token logins.' },
  httpHost: { type: 'string', default: '127.0.0.1', help: 'Address the HTTP API listens on (0.0.0.0 for every interface).' },
  httpPort: { type: 'port', default: 8080, help: 'HTTP API port; 0 picks a free port.' },
  httpTrustProxy: { type: 'string', default: '', help: 'Behind a load balancer: "true" (trust X-Forwarded-For) or the comma-separated addresses/CIDRs of the proxies, so rate limits and logs see the client\'s address; empty: the socket\'s address.' },
  httpHeadersTimeoutSeconds: { type: 'seconds', default: 10, help: 'A request whose headers have not all arrived this long after its first byte is answered 408 and its socket closed (slowloris).' },
  httpRequestTimeoutSeconds: { type: 'seconds', default: 3600, help: 'Longest time to receive a whole request, body included (release uploads are large; slow bodies are cut earlier by httpMinBodyBytesPerSecond).' },
  httpIdleTimeoutSeconds: { type: 'seconds', default: 30, help: 'A socket on which nothing moves for this long is closed.' },
  httpKeepAliveTimeoutSeconds: { type: 'seconds', default: 5, help: 'How long an idle keep-alive connection is kept open between requests.' },
  httpMinBodyBytesPerSecond: { type: 'count', default: 1024, help: 'A request body that arrives slower than this (bytes/s, averaged over 10 s) is cut off and its socket closed.' },
  httpBodyRateWindowSeconds: { type: 'seconds', default: 10, help: 'The window over which httpMinBodyBytesPerSecond is measured.' },
  httpMaxConnections: { type: 'count', default: 512, help: 'Open HTTP connections at most; further ones are closed at once (keep it below the process\'s file descriptor limit).' },
  metricsKey: { type: 'secret', default: '', help: 'Bearer key that GET /metrics requires; empty: /metrics is public (bind httpHost to a private address then).' },
  publicUrl: { type: 'string', default: '', help: 'Base URL appliances use to reach the API; empty: http://httpHost:port.' },
  dataDir: { type: 'path', default: '.twinroot/data', help: 'Local state: embedded DynamoDB files, artifact store, generated dev keys.' },
  logLevel: { type: 'level', default: 'info', help: 'pino log level: fatal, error, warn, info, debug, trace or silent.' },
  registerRatePerMinute: { type: 'count', default: 60, help: 'Registrations per minute (bursts of as many) allowed per register token and per source address, on each instance; more get a 429 with Retry-After.' },
  registerTokenKeyFile: { type: 'path', default: '', help: 'Ed25519 private key (PEM) that signs register tokens; empty: generated once and kept in dataDir/register-token-key.pem.' },
  sweepSchedule: { type: 'cron', default: '*/5 * * * *', help: 'When the presence, heartbeat and task sweeps run (cron expression), or "off" (another instance runs them; tests drive them by hand).' },
  rolloutPassSeconds: { type: 'seconds', default: 30, help: 'How often running rollouts are advanced between sweeps (seconds; 0: only with the sweeps). Passes are idempotent, so every instance may run them.' },
  releasePublicKeyFile: { type: 'path', default: '', help: 'Ed25519 public key (PEM) release manifests must be signed with — the key the appliances pin; empty: dataDir/release-signing.pub.' },
  artifactStore: { type: 'string', default: 'dir', help: 'Where uploaded releases are kept: "dir" (artifactDir; appliances download from this backend\'s /artifacts/… with Range and ETag) or s3://bucket[/prefix] (appliances are redirected to presigned S3 URLs: see artifactDownloads).' },
  artifactDownloads: { type: 'string', default: 'redirect', help: 'With an s3:// artifactStore: "redirect" (GET /artifacts/… answers 302 to a presigned S3 URL valid 1 h, so payload bytes never pass through the backend) or "proxy" (the backend streams them, with Range and ETag). The directory store always streams.' },
  artifactS3Endpoint: { type: 'string', default: '', help: 'Endpoint of an S3-API server for artifactStore (MinIO, …; path-style); empty: AWS S3.' },
  artifactS3Region: { type: 'string', default: 'us-east-1', help: 'AWS region of the artifact bucket (credentials: the default AWS chain).' },
  artifactListen: { type: 'string', default: '', help: 'With the "dir" artifactStore: "PORT" or "HOST:PORT" (HOST defaults to httpHost) where a thread of its own serves /artifacts/…, so a download storm copies bytes beside the API\'s event loop, not on it; new releases\' URLs point there. Empty: the API serves them.' },
  artifactPublicUrl: { type: 'string', default: '', help: 'Base URL appliances download artifacts from when artifactListen is set (e.g. the balancer\'s path rule for /artifacts/); empty: http://HOST:PORT of artifactListen.' },
  artifactDir: { type: 'path', default: '', help: 'Directory of the artifact store that uploaded releases are kept in and served from (/artifacts/…); empty: dataDir/artifacts.' },
  operatorKey: { type: 'secret', default: '', help: 'Bearer key for the operator API; empty: generated once and kept in dataDir/operator-key.' },
  dynamodbEndpoint: { type: 'url-or-mode', default: 'embedded', help: '"embedded" (dynalite in-process, on a Unix socket in dataDir), "aws" (AWS DynamoDB, default credential chain), an http(s) URL of a DynamoDB-API server, or unix:/path of another instance\'s embedded store.' },
  dynamodbRegion: { type: 'string', default: 'us-east-1', help: 'AWS region of the DynamoDB tables.' },
  dynamodbTablePrefix: { type: 'string', default: 'twinroot-', help: 'Prefix of every table name, so several installations can share an account.' },
  embeddedDynamodbPort: { type: 'port', default: 0, help: '0: the embedded dynalite listens only on a Unix socket in dataDir (0600, reachable by this user alone); a port: also on 127.0.0.1:port, where any local user can read and write it (it takes any credentials) — for debugging only.' },
  mqttUrl: { type: 'url-or-mode', default: 'embedded', help: '"embedded" (aedes in-process), "aws-iot" (AWS IoT Core: certificates from appliances\' CSRs, tasks published over HTTPS through the data plane; see "Deploying on AWS IoT Core"), or the mqtt:// / mqtts:// URL of an external broker (mosquitto) the backend publishes to.' },
  mqttAuth: { type: 'string', default: 'token', help: 'How appliances log in to the embedded broker: "token" (id + token on plain TCP, for development), "certificate" (MQTT over TLS with a client certificate the embedded CA issues from the appliance\'s CSR; the production setting), or "token,certificate" (both listeners).' },
  mqttTlsPort: { type: 'port', default: 8883, help: 'Port of the embedded broker\'s MQTT-over-TLS listener (mqttAuth with certificate); 0 picks a free port.' },
  mqttTlsPublicUrl: { type: 'string', default: '', help: 'mqtts:// URL handed to appliances that log in by certificate; empty: mqtts://mqttHost:mqttTlsPort (AWS IoT Core: mqtts://<awsIotEndpoint>:8883).' },
  mqttTlsNames: { type: 'string', default: '', help: 'Extra DNS names or addresses (comma-separated) the embedded broker\'s server certificate is valid for, besides mqttHost, localhost, 127.0.0.1 and the host of mqttTlsPublicUrl.' },
  caCertFile: { type: 'path', default: '', help: 'The embedded CA\'s certificate (PEM), with caKeyFile; empty: generated once into dataDir/ca (key 0600). Several instances must share it.' },
  caKeyFile: { type: 'path', default: '', help: 'The embedded CA\'s private key (PEM, ECDSA P-256).' },
  certificateValidityDays: { type: 'count', default: 365, help: 'Validity of the client certificates the embedded CA issues; the agent renews 10 days before expiry.' },
  awsIotEndpoint: { type: 'string', default: '', help: 'AWS IoT Core\'s data endpoint (xxxx-ats.iot.<region>.amazonaws.com) for mqttUrl "aws-iot"; empty: looked up with DescribeEndpoint (iot:Data-ATS).' },
  awsIotRegion: { type: 'string', default: 'us-east-1', help: 'AWS region of the IoT Core account (credentials: the default AWS chain).' },
  awsIotPolicyName: { type: 'string', default: 'twinroot-appliance', help: 'The IoT policy (backend/aws/iot-policy.json) attached to every appliance certificate; it must exist.' },
  mqttUsername: { type: 'string', default: '', help: 'Username for an external broker (empty: none).' },
  mqttPassword: { type: 'secret', default: '', help: 'Password for an external broker (empty: none).' },
  mqttCaFile: { type: 'path', default: '', help: 'CA bundle for mqtts:// (AWS IoT Core: the Amazon root CA).' },
  mqttCertFile: { type: 'path', default: '', help: 'Client certificate for mTLS to an external broker.' },
  mqttKeyFile: { type: 'path', default: '', help: 'Client private key for mTLS to an external broker.' },
  mqttHost: { type: 'string', default: '127.0.0.1', help: 'Address the embedded broker listens on.' },
  mqttPort: { type: 'port', default: 1883, help: 'Port of the embedded broker; 0 picks a free port.' },
  mqttMaxPacketBytes: { type: 'count', default: 131072, help: 'Largest MQTT packet the embedded broker accepts (bytes); a larger one is refused from its header, before it is buffered, and the connection closed.' },
  mqttConnectTimeoutSeconds: { type: 'seconds', default: 5, help: 'A connection to the embedded broker that has not completed CONNECT and authentication within this time is closed.' },
  mqttMaxPendingConnections: { type: 'count', default: 64, help: 'Connections to the embedded broker that have not yet authenticated, at most; further ones are closed at once.' },
  mqttPublicUrl: { type: 'string', default: '', help: 'Broker URL handed to appliances at registration; empty: mqtt://mqttHost:port.' },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;
export type Config = {
  [K in ConfigKey]: (typeof CONFIG_KEYS)[K]['type'] extends 'port' | 'seconds' | 'count' ? number : string;
};

export function envName(key: string): string {
  return 'TWINROOT_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}
