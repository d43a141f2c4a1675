export { startBackend, type Backend } from './server.js';
export { loadConfig, ConfigError } from './config/load.js';
export { CONFIG_KEYS, envName, type Config } from './config/keys.js';
export { hashApplianceToken, newApplianceToken, applianceTokenMatches } from './auth/appliance-token.js';
export { tableNames, TABLES } from './store/tables.js';
