// `node --import ./usage-reporter.mjs ...`: writes process.resourceUsage() (peak RSS in
// KiB, CPU times in µs) as JSON to the file named by BENCH_USAGE_FILE when the process
// exits. Used only where GNU time is missing (or BENCH_RSS=reporter). It is imported
// before any loader, keeps its own references, and works the same with and without one.
import fs from 'node:fs';

const file = process.env.BENCH_USAGE_FILE;
const { resourceUsage } = process;
if (file) {
  process.on('exit', () => {
    fs.writeFileSync(file, JSON.stringify(resourceUsage.call(process)));
  });
}
