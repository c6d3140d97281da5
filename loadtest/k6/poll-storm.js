// Poll storm: a constant arrival rate of root polls spread over many device
// ids, the load that dominates a real fleet.
//
//   k6 run -e GOSLING_URL=http://127.0.0.1:8080 -e GOSLING_RATE=5000 \
//          -e GOSLING_DEVICES=100000 -e GOSLING_DURATION=60s poll-storm.js
//
// GOSLING_TOKEN_SECRET (TargetToken) or GOSLING_GATEWAY_TOKEN selects auth.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { DURATION, THRESHOLDS, VUS, controllerBase, deviceId, headers } from './common.js';

const RATE = parseInt(__ENV.GOSLING_RATE || '1000', 10);

export const options = {
  discardResponseBodies: false,
  scenarios: {
    polls: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: VUS,
      maxVUs: parseInt(__ENV.GOSLING_MAX_VUS || String(VUS * 4), 10),
    },
  },
  thresholds: THRESHOLDS,
};

export default function () {
  const id = deviceId(exec.scenario.iterationInTest);
  const res = http.get(controllerBase(id), { headers: headers(id), tags: { name: 'poll' } });
  check(res, {
    'poll 200': (r) => r.status === 200,
    'poll has sleep': (r) => r.body && r.body.indexOf('"sleep"') >= 0,
  });
}
