export { keygen, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE } from './keygen.js';
export { buildPackage, checkBuildOptions, DEFAULT_CHUNK_SIZE, type BuildOptions, type BuiltPackage } from './build.js';
export { verifyPackage, PackageError } from './verify-package.js';
export { ChunkedSha256 } from './chunked-sha256.js';
export { tarCreateArgs, compressorArgs, payloadFileName, type Compression } from './tar-args.js';
export { attachDisk, diskFormat } from './disk.js';
export { signServiceBundle, type SignedServiceBundle } from './service-bundle.js';
