import { Type, type Static } from '@sinclair/typebox';
import { MAX_ID_LENGTH, MAX_NAME_LENGTH, MAX_TEXT_LENGTH, MAX_URL_LENGTH } from './limits.js';

// Semantic Versioning 2.0.0: MAJOR.MINOR.PATCH, optional -prerelease and +build.
const NUM = '(?:0|[1-9][0-9]*)';
const PRE_ID = '(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)';
const BUILD_ID = '[0-9A-Za-z-]+';
export const SEMVER_PATTERN = `^${NUM}\\.${NUM}\\.${NUM}(?:-${PRE_ID}(?:\\.${PRE_ID})*)?(?:\\+${BUILD_ID}(?:\\.${BUILD_ID})*)?$`;

/** Ids travel in MQTT topics and URL paths: no '/', '+', '#', spaces or control characters. */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]*$';

export const Id = Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH, pattern: ID_PATTERN });
export const Version = Type.String({ minLength: 5, maxLength: 64, pattern: SEMVER_PATTERN });
export const Slot = Type.Union([Type.Literal('A'), Type.Literal('B')]);
export type Slot = Static<typeof Slot>;
export const Timestamp = Type.String({ format: 'date-time', maxLength: 64 });
export const HttpUrl = Type.String({ format: 'uri', pattern: '^https?://', maxLength: MAX_URL_LENGTH });
export const Sha256Hex = Type.String({ pattern: '^[0-9a-f]{64}$' });
/**
 * Text shown to operators (names, hostnames): no control characters (NUL, ANSI escapes), no
 * format characters (RTL overrides, zero-width marks), no line separators and no lone
 * surrogates — they would forge or hide what the console and the logs show.
 */
export const PLAIN_TEXT_PATTERN = '^[^\\p{Cc}\\p{Cf}\\p{Cs}\\p{Zl}\\p{Zp}]*$';
export const Name = Type.String({ minLength: 1, maxLength: MAX_NAME_LENGTH, pattern: PLAIN_TEXT_PATTERN });
export const Text = Type.String({ maxLength: MAX_TEXT_LENGTH });
/** Lower-case DNS-label style code, used as a namespace name for services. */
export const ServiceCode = Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$' });
