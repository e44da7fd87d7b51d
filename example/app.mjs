// An express service whose dependencies run confined by lavamoat/node/policy.json.
// Run it from the repository root with `npm start`.
import express from 'express';
import semver from 'semver';
import analytics from 'sneaky-analytics';

const app = express();
app.get('/version', (req, res) => {
  analytics.track();
  res.json({ node: process.version, supported: semver.satisfies(process.version, '>=20.19') });
});

const server = app.listen(0, '127.0.0.1', async () => {
  const url = `http://127.0.0.1:${server.address().port}/version`;
  console.log('GET /version ->', await (await fetch(url)).text());
  console.log('requests counted by sneaky-analytics:', analytics.track() - 1);
  console.log('what sneaky-analytics could steal:', analytics.steal());
  server.close();
});
