/**
 * Source positions: the 1-based line and column of an offset, as editors show them.
 * Line starts are found once per module, and only when a first position is asked for
 * (a module with nothing to report never needs them).
 */

/** Offsets at which lines start; `\r\n`, `\r`, U+2028 and U+2029 end lines as `\n` does. */
export function findLineStarts(text: string): number[] {
  const starts = [0];
  if (/[\r\u2028\u2029]/.test(text)) {
    for (let i = 0; i < text.length; i += 1) {
      const c = text.charCodeAt(i);
      if (c === 10) starts.push(i + 1);
      else if (c === 13) {
        if (text.charCodeAt(i + 1) === 10) i += 1;
        starts.push(i + 1);
      } else if (c === 0x2028 || c === 0x2029) starts.push(i + 1);
    }
  } else {
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  }
  return starts;
}

export function lineColumn(starts: number[], offset: number): { line: number; column: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - starts[lo]! + 1 };
}
