import type { UpgradeState } from '../machine.js';
import { downloading, idle } from './downloading.js';
import { installing, verified } from './installing.js';
import { bootConfigured, rebooting } from './rebooting.js';
import { rollingBack } from './rolling-back.js';
import type { Step } from './step.js';
import { trial } from './trial.js';

type RunnableState = Exclude<UpgradeState, 'committed' | 'rolled_back' | 'failed'>;

/** Each non-terminal state's one step. */
export const STEPS: Record<RunnableState, Step> = {
  idle,
  downloading,
  verified,
  installing,
  boot_configured: bootConfigured,
  rebooting,
  trial,
  rolling_back: rollingBack,
};
