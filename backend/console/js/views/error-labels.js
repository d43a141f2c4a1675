import { api } from '../api.js';

let catalogue = null;

/** code → { meaning, retryable, … } from the backend's error catalogue, fetched once per page load. */
export async function errorLabels() {
  if (!catalogue) {
    catalogue = api('GET', '/v1/error-codes')
      .then((r) => new Map(r.items.map((e) => [e.code, e])))
      .catch(() => {
        catalogue = null; // try again on the next view
        return new Map();
      });
  }
  return catalogue;
}

/** "code — meaning: message" for a task error; an unknown code (an older or newer agent) shows as it came. */
export function describeError(labels, error) {
  const entry = labels.get(error.code);
  const meaning = entry ? ` — ${entry.meaning}${entry.retryable ? ' (retryable)' : ''}` : '';
  return `${error.code}${meaning}: ${error.message}`;
}
