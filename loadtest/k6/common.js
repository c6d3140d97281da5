// Shared configuration and helpers of Gosling's k6 scripts. Every setting
// comes from an environment variable (k6 run -e NAME=value or the shell).
import crypto from 'k6/crypto';

export const BASE = (__ENV.GOSLING_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const TENANT = __ENV.GOSLING_TENANT || 'DEFAULT';
export const DEVICES = parseInt(__ENV.GOSLING_DEVICES || '10000', 10);
export const PREFIX = __ENV.GOSLING_ID_PREFIX || 'loadgen-';
export const DURATION = __ENV.GOSLING_DURATION || '60s';
export const VUS = parseInt(__ENV.GOSLING_VUS || '64', 10);

// Thresholds: the run fails (k6 exits non-zero) beyond these.
export const THRESHOLDS = {
  http_req_duration: [`p(99)<${__ENV.GOSLING_P99_MS || '100'}`],
  http_req_failed: [`rate<${__ENV.GOSLING_MAX_ERROR_RATE || '0.01'}`],
};

const SECRET = __ENV.GOSLING_TOKEN_SECRET || '';
const GATEWAY = __ENV.GOSLING_GATEWAY_TOKEN || '';

// deviceId is the controller id of device index i, as `gosling loadgen`
// names them: prefix + decimal index.
export function deviceId(i) {
  return PREFIX + String(i % DEVICES);
}

// token is loadtest.TokenFor(secret, id): the first 16 bytes of
// HMAC-SHA256(secret, id) in hex, so fleets provisioned for the Go load
// generator work here too.
export function token(id) {
  return crypto.hmac('sha256', SECRET, id, 'hex').slice(0, 32);
}

// headers are what SWUpdate sends on JSON calls, plus the device's
// credentials: TargetToken when GOSLING_TOKEN_SECRET is set, else
// GatewayToken when GOSLING_GATEWAY_TOKEN is set, else none.
export function headers(id, extra) {
  const h = Object.assign({ Accept: 'application/json', 'Content-Type': 'application/json' }, extra || {});
  if (SECRET) {
    h.Authorization = `TargetToken ${token(id)}`;
  } else if (GATEWAY) {
    h.Authorization = `GatewayToken ${GATEWAY}`;
  }
  return h;
}

export function controllerBase(id) {
  return `${BASE}/${TENANT}/controller/v1/${id}`;
}

// localTime is SWUpdate's feedback "time": local time as YYYYMMDDThhmmss.
export function localTime() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}T${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

// feedback renders a feedback body in SWUpdate 2022.12's form.
export function feedback(actionId, execution, finished, details, progress) {
  const result = { finished };
  if (progress) {
    result.progress = progress;
  }
  return JSON.stringify({
    id: parseInt(actionId, 10),
    time: localTime(),
    status: { result, execution, details: [details] },
  });
}

// configData renders SWUpdate's configData body.
export function configData() {
  return JSON.stringify({
    id: '',
    time: localTime(),
    status: { result: { finished: 'success' }, execution: 'closed', details: [''] },
    data: {
      sw_version: __ENV.GOSLING_SW_VERSION || '0.0.1',
      hw_revision: __ENV.GOSLING_HW_REVISION || '1.0',
      hw_model: __ENV.GOSLING_HW_MODEL || 'loadgen-board',
    },
  });
}

// links returns the _links hrefs of a poll answer (name → href).
export function links(res) {
  const out = {};
  try {
    const l = res.json('_links') || {};
    for (const k of Object.keys(l)) {
      out[k] = l[k].href;
    }
  } catch (e) {
    // not JSON: the checks report it
  }
  return out;
}

// artifact returns the first artifact of a deploymentBase answer:
// { url, size }.
export function artifact(res) {
  const a = res.json('deployment.chunks.0.artifacts.0');
  if (!a) {
    return null;
  }
  const l = a._links || {};
  const href = (l['download-http'] || l.download || {}).href;
  return href ? { url: href, size: a.size } : null;
}
