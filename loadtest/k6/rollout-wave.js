// Rollout wave: every device of the fleet once, as SWUpdate would meet a
// running rollout: poll → configData (when asked) → deploymentBase →
// feedback proceeding → artifact download → feedback closed.
//
// Start a rollout first (admin API), then:
//
//   k6 run -e GOSLING_URL=http://127.0.0.1:8080 -e GOSLING_DEVICES=10000 \
//          -e GOSLING_VUS=64 -e GOSLING_FAIL_RATE=0.05 rollout-wave.js
//
// GOSLING_DOWNLOAD=0 skips the download; GOSLING_FAIL_RATE is the share of
// devices (by index) that report closed/failure.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
import { DEVICES, DURATION, THRESHOLDS, VUS, artifact, configData, controllerBase, deviceId, feedback, headers, links } from './common.js';

const FAIL_RATE = parseFloat(__ENV.GOSLING_FAIL_RATE || '0');
const DOWNLOAD = (__ENV.GOSLING_DOWNLOAD || '1') !== '0';

const succeeded = new Counter('gosling_updates_succeeded');
const failed = new Counter('gosling_updates_failed');

export const options = {
  scenarios: {
    wave: {
      executor: 'shared-iterations',
      vus: VUS,
      iterations: DEVICES,
      maxDuration: DURATION,
    },
  },
  thresholds: THRESHOLDS,
};

// failing spreads failures evenly over device indices.
function failing(i) {
  return FAIL_RATE > 0 && Math.floor((i + 1) * FAIL_RATE) > Math.floor(i * FAIL_RATE);
}

export default function () {
  const i = exec.scenario.iterationInTest % DEVICES;
  const id = deviceId(i);
  const h = headers(id);
  const poll = http.get(controllerBase(id), { headers: h, tags: { name: 'poll' } });
  if (!check(poll, { 'poll 200': (r) => r.status === 200 })) {
    return;
  }
  const l = links(poll);
  if (l.configData) {
    const res = http.put(l.configData, configData(), { headers: h, tags: { name: 'configData' } });
    check(res, { 'configData 200': (r) => r.status === 200 });
  }
  if (!l.deploymentBase) {
    return; // nothing to install (yet): a plain poll
  }
  const dep = http.get(l.deploymentBase, { headers: h, tags: { name: 'deployment' } });
  if (!check(dep, { 'deployment 200': (r) => r.status === 200 })) {
    return;
  }
  const actionId = dep.json('id');
  const fb = l.deploymentBase.split('?')[0] + '/feedback';
  const proceeding = http.post(fb, feedback(actionId, 'proceeding', 'none', 'Installing Update Chunk Artifacts.', { cnt: 0, of: 1 }),
    { headers: h, tags: { name: 'feedback' } });
  if (!check(proceeding, { 'feedback 200': (r) => r.status === 200 })) {
    return;
  }
  if (DOWNLOAD) {
    const a = artifact(dep);
    if (!check(a, { 'deployment has an artifact': (x) => x !== null })) {
      return;
    }
    const res = http.get(a.url, {
      headers: headers(id, { Accept: 'application/octet-stream', 'Content-Type': 'application/octet-stream' }),
      responseType: 'none',
      tags: { name: 'download' },
    });
    if (!check(res, {
      'download 200': (r) => r.status === 200,
      'download length': (r) => parseInt(r.headers['Content-Length'], 10) === a.size,
    })) {
      return;
    }
  }
  const fail = failing(i);
  const closed = http.post(fb, fail
    ? feedback(actionId, 'closed', 'failure', 'Update Failed.')
    : feedback(actionId, 'closed', 'success', 'Update Installed.'),
  { headers: h, tags: { name: 'feedback' } });
  if (check(closed, { 'feedback 200': (r) => r.status === 200 })) {
    (fail ? failed : succeeded).add(1);
  }
}
