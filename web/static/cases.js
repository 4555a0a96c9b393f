/* cases.js: niceties of the agents' case pages (/agent/cases, /agent/cases/REF). Everything
 * works without it: the pages are server-rendered and their forms post without JavaScript.
 * With it: a filter select applies itself when changed, "/" goes to the case search box, and
 * the "link an article" box offers the articles whose titles match what is typed (GET
 * /api/v1/search in the agent's scope: internal articles too), as <option>s of a datalist.
 * No inline script (CSP); text is set as text, never as HTML. */
(function () {
  'use strict';

  document.querySelectorAll('select[data-autosubmit]').forEach(function (sel) {
    sel.addEventListener('change', function () { if (sel.form) sel.form.submit(); });
  });

  var search = document.getElementById('case-q');
  if (search) {
    document.addEventListener('keydown', function (e) {
      var t = e.target;
      var typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
      if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        search.focus();
        search.select();
      }
    });
  }

  var slug = document.querySelector('input[data-articles]');
  var list = slug && document.getElementById(slug.getAttribute('list'));
  if (slug && list && window.fetch) {
    var endpoint = slug.getAttribute('data-articles');
    var timer = null, seq = 0;
    slug.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = slug.value.trim();
        if (q.length < 3) return;
        var mine = ++seq;
        var sep = endpoint.indexOf('?') >= 0 ? '&' : '?';
        fetch(endpoint + sep + 'q=' + encodeURIComponent(q), { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
          .then(function (r) { return r.ok ? r.json() : { results: [] }; })
          .then(function (data) {
            if (mine !== seq) return;
            list.textContent = '';
            (data.results || []).forEach(function (hit) {
              var o = document.createElement('option');
              o.value = hit.slug;
              o.label = hit.title; /* text, never HTML */
              list.appendChild(o);
            });
          })
          .catch(function () {});
      }, 200);
    });
  }
})();
