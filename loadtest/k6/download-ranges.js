// Artifact downloads with Range requests, like resumed SWUpdate downloads
// and rauc's streaming: each iteration fetches GOSLING_RANGE_SIZE bytes at
// a random aligned offset and checks the 206 answer.
//
// The artifact is GOSLING_ARTIFACT_URL (with GOSLING_ARTIFACT_SIZE), or is
// found by polling device GOSLING_DEVICE_ID, which must have a deployment
// offered:
//
//   k6 run -e GOSLING_URL=http://127.0.0.1:8080 -e GOSLING_DEVICE_ID=loadgen-0 \
//          -e GOSLING_RANGE_SIZE=1048576 -e GOSLING_VUS=16 -e GOSLING_DURATION=60s download-ranges.js
import http from 'k6/http';
import { check, fail } from 'k6';
import { DURATION, THRESHOLDS, VUS, artifact, controllerBase, headers, links } from './common.js';

const RANGE = parseInt(__ENV.GOSLING_RANGE_SIZE || '1048576', 10);
const DEVICE = __ENV.GOSLING_DEVICE_ID || 'loadgen-0';

export const options = {
  scenarios: {
    ranges: { executor: 'constant-vus', vus: VUS, duration: DURATION },
  },
  thresholds: Object.assign({}, THRESHOLDS, {
    checks: ['rate>0.99'],
  }),
};

export function setup() {
  if (__ENV.GOSLING_ARTIFACT_URL) {
    return { url: __ENV.GOSLING_ARTIFACT_URL, size: parseInt(__ENV.GOSLING_ARTIFACT_SIZE || '0', 10) };
  }
  const poll = http.get(controllerBase(DEVICE), { headers: headers(DEVICE) });
  const l = links(poll);
  if (poll.status !== 200 || !l.deploymentBase) {
    fail(`device ${DEVICE} has no deployment offered (poll ${poll.status}); start a rollout or set GOSLING_ARTIFACT_URL`);
  }
  const a = artifact(http.get(l.deploymentBase, { headers: headers(DEVICE) }));
  if (!a || !a.size) {
    fail('the deployment has no artifact with a size');
  }
  return a;
}

export default function (a) {
  const chunks = Math.max(1, Math.ceil(a.size / RANGE));
  const off = Math.floor(Math.random() * chunks) * RANGE;
  const last = Math.min(off + RANGE, a.size) - 1;
  const res = http.get(a.url, {
    headers: headers(DEVICE, { Accept: 'application/octet-stream', Range: `bytes=${off}-${last}` }),
    responseType: 'none',
    tags: { name: 'download-range' },
  });
  check(res, {
    'range 206': (r) => r.status === 206,
    'range length': (r) => parseInt(r.headers['Content-Length'], 10) === last - off + 1,
    'content-range': (r) => r.headers['Content-Range'] === `bytes ${off}-${last}/${a.size}`,
  });
}
