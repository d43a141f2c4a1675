/** Hard limits shared by agent and backend. Changing one is a protocol change. */
export const MAX_TASK_MESSAGE_BYTES = 128 * 1024;
export const MAX_ID_LENGTH = 128;
export const MAX_URL_LENGTH = 2048;
export const MAX_TEXT_LENGTH = 4096;
export const MAX_NAME_LENGTH = 253;
export const MAX_SERVICES = 256;
/** 1 TiB: larger than any root filesystem package we expect; anything above is a bad manifest. */
export const MAX_PAYLOAD_BYTES = 2 ** 40;
export const MAX_CHUNKS = 1_000_000;
