// One vocabulary for an upgrade's steps, from the agent's journal to the console: the state
// machine's states and the progress phases an upgrade task reports. Wire values are snake_case
// (like every status the API sends); names of commands (twinroot-slot sync-config) stay kebab.

/**
 * The wire protocol's version. 2: upgrade states and progress phases are snake_case
 * (`boot_configured`, `rolled_back`, `sync_config`); agents of protocol 1 sent kebab-case, which
 * the backend still accepts for one release (`fromProtocol1`).
 */
export const PROTOCOL_VERSION = 2;

/** The upgrade state machine's states (the agent's journal, the result's `detail.state`). */
export const UPGRADE_STATES = ['idle', 'downloading', 'verified', 'installing', 'boot_configured', 'rebooting', 'trial', 'committed', 'rolling_back', 'rolled_back', 'failed'] as const;
export type UpgradeState = (typeof UPGRADE_STATES)[number];

/** The phases an upgrade task's progress names, in the order they come. */
export const UPGRADE_PHASES = ['manifest', 'waiting', 'downloading', 'installing', 'sync_config', 'boot_config', 'try', 'rebooting'] as const;
export type UpgradePhase = (typeof UPGRADE_PHASES)[number];

/** Protocol 1's spellings of the same values. */
const PROTOCOL_1_SPELLINGS: Readonly<Record<string, string>> = {
  'boot-configured': 'boot_configured',
  'rolling-back': 'rolling_back',
  'rolled-back': 'rolled_back',
  'sync-config': 'sync_config',
  'boot-config': 'boot_config',
};

/** A state or phase as protocol 2 spells it (protocol 1's kebab-case mapped; anything else as it is). */
export function fromProtocol1(value: string): string {
  return PROTOCOL_1_SPELLINGS[value] ?? value;
}
