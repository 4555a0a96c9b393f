// web/static/agent/api.js: the console's only data source, kb's JSON API. Every call sends
// the session cookie (same origin) and, when it changes something, the session's CSRF token
// as X-CSRF-Token (the server refuses a POST, PATCH or DELETE without it). A call the server
// answers 401 (the session ended: logout, 10 hours, 1 hour idle) sends the agent to the login
// page, back to the console afterwards.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || String(status));
    this.status = status;
    this.code = code;
  }
}

export function makeApi(csrf) {
  async function call(method, path, { body, signal } = {}) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method, headers, signal, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) {
      const back = location.pathname + location.search;
      location.assign('/login?next=' + encodeURIComponent(back));
      throw new ApiError(401, 'unauthenticated');
    }
    if (res.status === 204) return null;
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      const e = data && data.error ? data.error : {};
      throw new ApiError(res.status, e.code, e.message);
    }
    return data;
  }
  const seg = encodeURIComponent;
  return {
    /** GET /api/v1/search: params {q, prefix, lang, category, tag, audience, limit}. */
    search(params, signal) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') qs.set(k, v);
      return call('GET', '/api/v1/search?' + qs.toString(), { signal });
    },
    article: (slug) => call('GET', '/api/v1/articles/' + seg(slug)),
    filters: () => call('GET', '/api/v1/agent/filters'),
    recent: () => call('GET', '/api/v1/agent/recent'),
    viewed: (slug) => call('POST', '/api/v1/agent/recent', { body: { slug } }),
    pins: () => call('GET', '/api/v1/agent/pins'),
    pin: (slug) => call('POST', '/api/v1/agent/pins', { body: { slug } }),
    unpin: (slug) => call('DELETE', '/api/v1/agent/pins/' + seg(slug)),
    flag: (slug, reason, comment) =>
      call('POST', '/api/v1/articles/' + seg(slug) + '/flags', { body: { reason, comment } }),
  };
}
