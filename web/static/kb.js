/* kb.js: progressive enhancement of the FAQ pages. The pages work without it; with it, the
 * search box suggests article titles as you type (GET /api/v1/suggest), as an accessible
 * combobox: arrow keys move, Enter opens, Escape closes. No inline script (CSP). */
(function () {
  'use strict';
  var input = document.getElementById('q');
  var list = document.getElementById('q-suggestions');
  if (!input || !list || !window.fetch) return;
  var endpoint = input.getAttribute('data-suggest');
  var timer = null, seq = 0, active = -1, items = [];

  function close() {
    list.hidden = true;
    list.textContent = '';
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
    items = [];
  }

  function highlight(i) {
    items.forEach(function (li, k) { li.setAttribute('aria-selected', k === i ? 'true' : 'false'); });
    active = i;
    if (i >= 0) input.setAttribute('aria-activedescendant', items[i].id);
    else input.removeAttribute('aria-activedescendant');
  }

  function show(suggestions) {
    list.textContent = '';
    items = [];
    suggestions.forEach(function (s, i) {
      var li = document.createElement('li');
      li.id = 'q-sugg-' + i;
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', 'false');
      var a = document.createElement('a');
      a.href = s.url;
      a.textContent = s.title; /* text, never HTML */
      a.tabIndex = -1;
      li.appendChild(a);
      li.addEventListener('mousedown', function (e) { e.preventDefault(); window.location = s.url; });
      list.appendChild(li);
      items.push(li);
    });
    if (items.length) {
      list.hidden = false;
      input.setAttribute('aria-expanded', 'true');
    } else {
      close();
    }
  }

  function query() {
    var q = input.value.trim();
    if (q.length < 2) { close(); return; }
    var mine = ++seq;
    var sep = endpoint.indexOf('?') >= 0 ? '&' : '?';
    fetch(endpoint + sep + 'q=' + encodeURIComponent(q), { headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
      .then(function (data) { if (mine === seq) show(data.suggestions || []); })
      .catch(function () { if (mine === seq) close(); });
  }

  input.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(query, 120);
  });
  input.addEventListener('keydown', function (e) {
    if (list.hidden) return;
    if (e.key === 'ArrowDown') { e.preventDefault(); highlight((active + 1) % items.length); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); highlight(active <= 0 ? items.length - 1 : active - 1); }
    else if (e.key === 'Escape') { close(); }
    else if (e.key === 'Enter' && active >= 0) {
      e.preventDefault();
      window.location = items[active].querySelector('a').href;
    }
  });
  input.addEventListener('blur', function () { setTimeout(close, 150); });
})();
