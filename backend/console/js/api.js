// The operator API, with the operator key the user signed in with (kept for this tab only).
const KEY = 'twinroot.operatorKey';

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  signIn(key) {
    sessionStorage.setItem(KEY, key);
  },
  signOut() {
    sessionStorage.removeItem(KEY);
  },
};

/** Whether the API accepts a key (without signing anyone out when it does not). */
export async function keyAccepted(key) {
  const res = await fetch('/v1/fleet/summary', { headers: { authorization: `Bearer ${key}` } });
  if (res.status === 401) return false;
  if (!res.ok) throw new Error(`the backend answered ${res.status}`);
  return true;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function failure(status, data) {
  if (status === 401) {
    session.signOut();
    window.dispatchEvent(new Event('twinroot:signed-out'));
  }
  const message = data && typeof data.message === 'string' ? data.message : `HTTP ${status}`;
  return new ApiError(status, data?.code ?? 'http_error', message);
}

/** JSON in, JSON out; a FormData body is sent as multipart. Errors carry the API's code and message. */
export async function api(method, path, body) {
  const headers = { authorization: `Bearer ${session.key ?? ''}` };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text.slice(0, 200) };
  }
  if (!res.ok) throw failure(res.status, data);
  return data;
}

/** A multipart upload with progress (fetch cannot report upload progress). */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('authorization', `Bearer ${session.key ?? ''}`);
    xhr.upload.addEventListener('progress', (e) => e.lengthComputable && onProgress(e.loaded / e.total));
    xhr.addEventListener('load', () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(failure(xhr.status, data));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'upload failed: the backend could not be reached')));
    xhr.send(form);
  });
}

/** Fetches a file with the key and hands it to the browser as a download. */
export async function download(path, filename) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${session.key ?? ''}` } });
  if (!res.ok) throw failure(res.status, await res.json().catch(() => null));
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Every page of a listing (the API pages with nextToken). */
export async function all(path, max = 5000) {
  const items = [];
  let next;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', next ? `${path}${sep}nextToken=${encodeURIComponent(next)}` : path);
    items.push(...page.items);
    next = page.nextToken;
  } while (next && items.length < max);
  return items;
}
