import { all } from '../api.js';

let cache = null;
let at = 0;

/** customerId → customer, re-read at most every 10 s (names and regions change rarely). */
export async function customerNames(force = false) {
  if (!cache || force || Date.now() - at > 10_000) {
    const items = await all('/v1/customers?limit=1000');
    cache = new Map(items.map((c) => [c.customerId, c]));
    at = Date.now();
  }
  return cache;
}
