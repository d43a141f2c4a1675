// A package server in its own process, so the HTTP side does not share the agent's event loop:
// `node --import tsx bench/lib/serve-package.ts DIR PAYLOAD_FILE` prints its base URL.
import { PackageServer } from '../../test/helpers/packages.js';

const [dir, file] = process.argv.slice(2);
if (!dir || !file) {
  console.error('usage: serve-package.ts DIR PAYLOAD_FILE');
  process.exit(2);
}
const server = await new PackageServer(dir, file).start();
console.log(server.url);
process.on('SIGTERM', () => void server.stop().then(() => process.exit(0)));
