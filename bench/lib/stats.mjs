// Medians, spreads and number formatting for the bench report.
export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
export const fmt = (n, digits = 0) => (n >= 100 || digits === 0 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits));
export const spread = (values) => `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
export const mib = (kb) => `${(kb / 1024).toFixed(1)} MiB`;
export const times = (ratio) => `${ratio.toFixed(2)}×`;
