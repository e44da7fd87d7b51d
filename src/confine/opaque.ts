/**
 * Opaque tokens: what a package gets for a host object it may know of but not use (an
 * async resource, the app's worker in a `'worker'` event, another party's listener).
 */
const tokens = new WeakMap<object, object>();

/**
 * A stand-in for a host object a package may know of but not use: the same token for
 * the same object (so it can be compared, or used as a WeakMap key), and nothing else.
 */
export function opaque(value: object): object {
  let token = tokens.get(value);
  if (!token) {
    token = Object.freeze(Object.create(null, { [Symbol.toStringTag]: { value: 'LavaMoat opaque' } }) as object);
    tokens.set(value, token);
  }
  return token;
}
