/**
 * V8's "Maximum call stack size exceeded". A package can recurse until the stack is nearly
 * gone, then make its first use of a grant (which hardens or disarms Node's classes
 * lazily) and catch the error: the work that threw was cut short wherever the stack ran
 * out, so a "not in this Node" catch-all must not take it for an answer, and what was
 * marked done must be unmarked (fail closed: the use fails, the next one does the work).
 */
export function isStackOverflow(error: unknown): boolean {
  try {
    return error instanceof RangeError && /call stack/i.test(String(error.message));
  } catch {
    return true;
  }
}
