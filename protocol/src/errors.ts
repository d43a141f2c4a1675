// The one catalogue of error codes: every code the agent, the backend and the tooling raise,
// what it means, whether trying again can help, and who raises it. The agent's task results,
// the backend's task timeouts and HTTP errors, its rollout rules and the console's labels all
// take their codes from here; a test fails on a code used anywhere but not listed.

export type ErrorScope =
  /** In a task's result (`TaskResult.error.code`, or the error a backend sweep finished a task with). */
  | 'task'
  /** In an HTTP error body (`{ statusCode, error, code, message }`). */
  | 'http'
  /** Inside one process only (a retry reason, a tool's exit message); never on the wire. */
  | 'internal';

export interface ErrorEntry {
  meaning: string;
  /** Could the same request or task succeed if tried again unchanged (later, or on another attempt)? */
  retryable: boolean;
  raisedBy: 'agent' | 'backend' | 'protocol' | 'tooling' | 'console';
  scope: ErrorScope;
  /** For HTTP errors: the status it is sent with. */
  httpStatus?: number;
  /** For upgrade task errors: the appliance went back to its committed slot after a trial (a rollout counts it as rolled back). */
  rolledBack?: true;
}

const agentTask = (meaning: string, retryable: boolean, extra: Partial<ErrorEntry> = {}): ErrorEntry => ({ meaning, retryable, raisedBy: 'agent', scope: 'task', ...extra });
const backendTask = (meaning: string, retryable: boolean): ErrorEntry => ({ meaning, retryable, raisedBy: 'backend', scope: 'task' });
const http = (httpStatus: number, meaning: string, retryable = false): ErrorEntry => ({ meaning, retryable, raisedBy: 'backend', scope: 'http', httpStatus });
const internal = (raisedBy: ErrorEntry['raisedBy'], meaning: string, retryable: boolean): ErrorEntry => ({ meaning, retryable, raisedBy, scope: 'internal' });

export const ERROR_CATALOGUE = {
  // ── Upgrade: the signed manifest and the payload (agent) ──
  manifest_unavailable: agentTask('the manifest could not be fetched or read', true),
  manifest_too_large: agentTask('the manifest (or its signature) is larger than the agent accepts', false),
  bad_location: agentTask('the task\'s manifest location is neither an http(s) URL nor an absolute path', false),
  bad_key: agentTask('the pinned public key is not an Ed25519 PEM key', false),
  bad_signature: agentTask('the signature does not verify with the pinned public key', false),
  bad_manifest: agentTask('the signed document is not a valid manifest (or not the one the task asks for)', false),
  stale_manifest: agentTask('an older manifest than one already seen for this version (a stale mirror)', false),
  version_mismatch: agentTask('the signed manifest is for another version than the task says', false),
  no_public_key: agentTask('the agent cannot read its pinned release-signing key', false),
  payload_unavailable: agentTask('the payload server refused the download (HTTP 4xx) or the file is missing', false),
  payload_corrupt: agentTask('the payload does not match the signed chunk hashes or size', false),
  payload_too_large: agentTask('the server offers or sends more bytes than the signed manifest says', false),
  download_failed: agentTask('the download kept failing after every retry', true),
  // ── Upgrade: pre-checks (agent; nothing is written when one fails) ──
  incompatible: agentTask('the package is for another kind of appliance (compatible string)', false),
  cpu_level: agentTask('the package needs CPU features this machine lacks', false),
  downgrade: agentTask('the package is older than the committed version and the task does not allow a downgrade', false),
  agent_too_old: agentTask('the package needs a newer agent', false),
  no_space: agentTask('not enough free space for the download', true),
  slot_too_small: agentTask('the inactive slot is smaller than the package needs', false),
  // ── Upgrade: the state machine (agent) ──
  busy: agentTask('another upgrade is between its reboot and its settlement', true),
  boot_check_pending: agentTask('the upgrade is after its reboot; the boot check settles it', true),
  trial_in_progress: agentTask('the appliance is booted on trial; commit or roll back first', true),
  crash_loop: agentTask('the agent stopped 3 times in the same state before the switch; the upgrade stopped on the committed slot', false),
  trial_crash_loop: agentTask('the agent stopped 3 times in the trial; rolled back to the committed slot', false, { rolledBack: true }),
  trial_boot_failed: agentTask('the new slot did not come up (GRUB fell back to the committed slot)', false, { rolledBack: true }),
  health_check_failed: agentTask('a health check failed in the new slot; rolled back to the committed slot', false, { rolledBack: true }),
  upgrade_failed: agentTask('the upgrade failed for a reason with no code of its own (see the message)', true),
  // ── Slot commands (agent, from twinroot-slot or the dir driver) ──
  args_failed: agentTask('the agent refused to run a slot command with these arguments', false),
  status_failed: agentTask('the slot status could not be read', true),
  install_failed: agentTask('writing the rootfs into the inactive slot failed', true),
  sync_config_failed: agentTask('copying the configuration into the new slot failed', true),
  boot_config_failed: agentTask('configuring the new slot\'s boot (GRUB, initramfs) failed', true),
  try_failed: agentTask('arming the one-time trial boot failed', true),
  commit_failed: agentTask('making the booted slot the default failed', true),
  rollback_failed: agentTask('making the other slot the default failed', false),
  reboot_failed: agentTask('the reboot command failed', true),
  // ── Other tasks (agent) ──
  status_unavailable: agentTask('the heartbeat could not collect the appliance status', true),
  upload_failed: agentTask('the diagnostic bundle could not be uploaded', true),
  checksum_mismatch: agentTask('the service bundle does not match its signed size or sha256', false),
  bundle_too_large: agentTask('the service bundle is larger than the agent accepts', false),
  bundle_unsigned: agentTask('the service task has no signed manifest', false),
  no_service_key: agentTask('the agent cannot read its service-signing key', false),
  installer_failed: agentTask('the service installer hook exited non-zero', true),
  cancelled: agentTask('the task was cancelled while it ran', false),
  unsupported_task_type: agentTask('this agent has no handler for the task type', false),
  // ── Task messages the agent rejects (protocol's decoder) ──
  too_large: { meaning: 'the message or upload is larger than allowed', retryable: false, raisedBy: 'protocol', scope: 'task', httpStatus: 413 },
  not_json: { meaning: 'the task message is not UTF-8 JSON', retryable: false, raisedBy: 'protocol', scope: 'task' },
  invalid: { meaning: 'the task message does not match its schema', retryable: false, raisedBy: 'protocol', scope: 'task' },
  unknown_task_type: { meaning: 'the task message names a task type the protocol does not have', retryable: false, raisedBy: 'protocol', scope: 'task' },
  expired: agentTask('the task arrived after its expiresAt (or was never acknowledged before it)', false),
  // ── Tasks the backend finishes ──
  superseded: backendTask('a newer task of the same type for the appliance replaced it', false),
  no_response: backendTask('the appliance never acknowledged the task, after every resend', true),
  not_verified: backendTask('after the reboot no heartbeat confirmed the new version in time', true),
  no_progress: backendTask('the appliance stopped reporting progress on the task', true),
  decommissioned: backendTask('the appliance was decommissioned', false),
  rollout_aborted: backendTask('the rollout that sent the task was aborted', false),
  // ── HTTP API (backend) ──
  bad_body: http(400, 'the request body does not match its schema'),
  bad_querystring: http(400, 'the query string does not match its schema'),
  bad_params: http(400, 'the path parameters do not match their schema'),
  bad_headers: http(400, 'the request headers do not match their schema'),
  bad_request: http(400, 'the request is malformed'),
  bad_page_token: http(400, 'nextToken is not a token this API issued'),
  bad_task_body: http(400, 'the task body does not match its task type'),
  bad_time_zone: http(400, 'not an IANA time zone'),
  bad_start: http(400, 'startAt is not a time'),
  bad_upload: http(400, 'the multipart release upload is malformed or incomplete'),
  file_too_large: http(413, 'an uploaded file is larger than allowed'),
  payload_size_mismatch: http(400, 'the payload\'s size differs from its signed manifest'),
  payload_unreachable: http(400, 'the backend could not reach the payload URL the manifest names'),
  manifest_unreachable: http(400, 'the backend could not fetch the manifest URL'),
  downgrade_reason_required: http(400, 'a downgrade needs a downgradeReason'),
  unknown_customer: http(400, 'a customer the request names does not exist'),
  unknown_region: http(400, 'a region the request names has no customers'),
  missing_credentials: http(401, 'no Authorization: Bearer header'),
  bad_credentials: http(401, 'the key or token is wrong, unknown or revoked'),
  token_expired: http(401, 'the appliance token has expired; the agent registers again'),
  register_token_invalid: http(401, 'the register token is not a valid JWT of this backend'),
  register_token_expired: http(401, 'the register token has expired'),
  register_token_revoked: http(401, 'the register token was revoked'),
  register_token_used_up: http(401, 'the register token has been used as often as it allows'),
  csr_invalid: http(400, 'the certificate request is malformed, not self-signed by its key, or uses a key type other than ECDSA P-256/P-384 or RSA 2048-4096'),
  csr_required: http(400, 'this backend authenticates MQTT by client certificate: the registration must carry a csr (the agent is too old)'),
  forbidden: http(403, 'not allowed for this caller'),
  not_found: http(404, 'no such resource'),
  release_exists: http(409, 'a release with this version is already registered'),
  already_uploaded: http(409, 'the log bundle for this task was already uploaded'),
  upgrade_in_progress: http(409, 'the appliance has an upgrade in progress'),
  bad_state: http(409, 'the rollout cannot do this in its current state'),
  unsupported_media_type: http(415, 'the request\'s content type is not accepted'),
  rate_limited: http(429, 'too many requests; retry later', true),
  internal: http(500, 'an unexpected error (see the backend log)', true),
  no_release_key: http(503, 'the backend has no release public key configured', true),
  certificate_issuer_unavailable: http(503, 'the certificate issuer (AWS IoT Core) failed or throttled after retries; nothing was registered', true),
  // ── Internal: never on the wire ──
  network: internal('console', 'the console could not reach the backend', true),
  connection_failed: internal('agent', 'a download connection failed (retried)', true),
  bad_range: internal('agent', 'the server answered a range request with other bytes (retried)', true),
  chunk_mismatch: internal('agent', 'a downloaded chunk failed its hash (fetched again)', true),
  truncated: internal('agent', 'a download connection ended early (resumed)', true),
  missing_file: internal('tooling', 'a package file is missing', false),
  size_mismatch: internal('tooling', 'the package payload has another size than its manifest', false),
  sha256_mismatch: internal('tooling', 'the package payload has another sha256 than its manifest', false),
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CATALOGUE, code);
}

/** A code read back from storage or a peer, as a catalogued code (`fallback` for one it does not know). */
export function asErrorCode(code: string, fallback: ErrorCode): ErrorCode {
  return isErrorCode(code) ? code : fallback;
}

/** The catalogue's entry for a code, or null for a code it does not know (an older or newer peer). */
export function errorEntry(code: string): ErrorEntry | null {
  return isErrorCode(code) ? ERROR_CATALOGUE[code] : null;
}

/** Upgrade task error codes that mean "back on the committed slot after a trial". */
export const ROLLED_BACK_CODES: ReadonlySet<string> = new Set(ERROR_CODES.filter((c) => (ERROR_CATALOGUE[c] as ErrorEntry).rolledBack === true));

/** The catalogue as the API serves it (GET /v1/error-codes) and the console labels errors with. */
export function errorCatalogueView(): Array<{ code: ErrorCode } & ErrorEntry> {
  return ERROR_CODES.map((code) => ({ code, ...ERROR_CATALOGUE[code] }));
}
