/** The agent's own version (compared with a manifest's minAgentVersion). */
export const AGENT_VERSION = '0.1.0';
