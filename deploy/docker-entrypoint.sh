#!/bin/sh
# Container entrypoint: keys that come as secrets in the environment (ECS injects Secrets
# Manager values as variables) are written to 0600 files the backend reads, then the backend
# replaces this shell. Values are written with printf '%s', never evaluated.
set -eu
keys=${TMPDIR:-/tmp}/twinroot-keys
write_key() { # NAME VALUE FILE
  mkdir -p "$keys"
  chmod 0700 "$keys"
  (umask 077 && printf '%s\n' "$2" > "$keys/$3")
  export "$1=$keys/$3"
}
if [ -n "${TWINROOT_REGISTER_TOKEN_KEY_PEM:-}" ]; then write_key TWINROOT_REGISTER_TOKEN_KEY_FILE "$TWINROOT_REGISTER_TOKEN_KEY_PEM" register-token-key.pem; fi
if [ -n "${TWINROOT_RELEASE_PUBLIC_KEY_PEM:-}" ]; then write_key TWINROOT_RELEASE_PUBLIC_KEY_FILE "$TWINROOT_RELEASE_PUBLIC_KEY_PEM" release-signing.pub; fi
# The backend refuses unknown TWINROOT_ variables: these two were for this script only.
unset TWINROOT_REGISTER_TOKEN_KEY_PEM TWINROOT_RELEASE_PUBLIC_KEY_PEM
exec "$@"
