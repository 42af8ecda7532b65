// The gateway's REST API (design §8). Every call rejects with an Error carrying the API's
// error code and message.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body, headers = {}) {
  const res = await fetch(path, {
    method,
    headers: { Accept: 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : { code: 'http_' + res.status, message: text };
    throw new ApiError(res.status, err.code, err.message);
  }
  return data;
}

export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '' && v !== false) p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const api = {
  stats: () => request('GET', '/api/stats'),
  services: (params) => request('GET', `/api/services${qs(params)}`),
  service: (name) => request('GET', `/api/services/${encodeURIComponent(name)}`),
  coverage: (by) => request('GET', `/api/coverage${qs({ by })}`),
  history: (by, since) => request('GET', `/api/coverage/history${qs({ by, since })}`),
  traces: (params) => request('GET', `/api/traces${qs(params)}`),
  trace: (id) => request('GET', `/api/traces/${encodeURIComponent(id)}`),
  recommendations: (params) => request('GET', `/api/recommendations${qs(params)}`),
  serviceMap: (params) => request('GET', `/api/service-map${qs(params)}`),
  shadow: () => request('GET', '/api/shadow-services'),
  jobs: (limit) => request('GET', `/api/sync-jobs${qs({ limit })}`),
  job: (id) => request('GET', `/api/sync-jobs/${encodeURIComponent(id)}`),
  sync: (token) =>
    request('POST', '/api/sync', JSON.stringify({ requested_by: 'dashboard' }), {
      'Content-Type': 'application/json',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    }),
};
