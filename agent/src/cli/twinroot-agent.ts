#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadAgentConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startAgent } from '../agent.js';

const USAGE = 'usage: twinroot-agent run [--config FILE]   (default config: /etc/twinroot/agent.json)';

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { config: { type: 'string', default: '/etc/twinroot/agent.json' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals[0] !== 'run' || positionals.length > 1) {
    console.error(USAGE);
    return 2;
  }
  const config = loadAgentConfig(values.config);
  const log = createLogger(config.logFile, config.logLevel);
  const agent = await startAgent(config, log);
  log.info({ applianceId: agent.identity().applianceId, pid: process.pid, bootCheck: agent.bootCheck }, 'agent started');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  log.info({}, 'stopping: finishing or parking the current step');
  await agent.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`twinroot-agent: ${err.message}`);
    process.exit(1);
  },
);
