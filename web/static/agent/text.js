// web/static/agent/text.js: putting what the API returns on the page without ever handing
// article text to the HTML parser of the page. Search snippets arrive HTML-escaped with
// <mark> around the matches: they are split on the marks and their text decoded, then set as
// text nodes. An article's body arrives as HTML that kb rendered from Markdown without raw
// HTML or unsafe URLs; it is parsed in an inert document (DOMParser runs no script and loads
// nothing) and copied element by element through an allow-list, attributes too, so that even
// a rendering bug could not put a script or a handler on the page.

const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

/** Text of s with the entities kb's HTML escaping writes decoded (and no others). */
export function unescapeHtml(s) {
  return s.replace(/&(?:amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e]);
}

/** A fragment of text nodes and <mark> elements from an escaped snippet. */
export function snippetFragment(snippet) {
  const frag = document.createDocumentFragment();
  const parts = String(snippet || '').split(/(<mark>|<\/mark>)/);
  let marked = false;
  for (const p of parts) {
    if (p === '<mark>') { marked = true; continue; }
    if (p === '</mark>') { marked = false; continue; }
    if (!p) continue;
    const text = document.createTextNode(unescapeHtml(p));
    if (marked) {
      const m = document.createElement('mark');
      m.appendChild(text);
      frag.appendChild(m);
    } else {
      frag.appendChild(text);
    }
  }
  return frag;
}

const ALLOWED = new Set(['P', 'BR', 'HR', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'UL', 'OL', 'LI',
  'STRONG', 'EM', 'B', 'I', 'DEL', 'S', 'CODE', 'PRE', 'BLOCKQUOTE', 'A', 'TABLE', 'THEAD',
  'TBODY', 'TR', 'TH', 'TD', 'SUP', 'SUB', 'INPUT']);

function safeHref(href) {
  return /^(https?:|mailto:|tel:|\/(?!\/)|#)/i.test(href) ? href : null;
}

function copyNode(src, out) {
  for (const n of src.childNodes) {
    if (n.nodeType === Node.TEXT_NODE) {
      out.appendChild(document.createTextNode(n.nodeValue));
    } else if (n.nodeType === Node.ELEMENT_NODE && ALLOWED.has(n.tagName)) {
      if (n.tagName === 'INPUT') { // GFM task lists: a disabled checkbox, nothing else
        if (n.getAttribute('type') !== 'checkbox') continue;
        const box = document.createElement('input');
        box.type = 'checkbox';
        box.disabled = true;
        box.checked = n.hasAttribute('checked');
        out.appendChild(box);
        continue;
      }
      // Headings of the body sit under the article's own h2.
      const tag = /^H[1-6]$/.test(n.tagName) ? 'H' + Math.min(6, Number(n.tagName[1]) + 2) : n.tagName;
      const el = document.createElement(tag);
      if (n.tagName === 'A') {
        const href = safeHref(n.getAttribute('href') || '');
        if (href) el.setAttribute('href', href);
        if (/^https?:/i.test(href || '')) { el.target = '_blank'; el.rel = 'noopener noreferrer'; }
      }
      if ((n.tagName === 'TH' || n.tagName === 'TD') && /^(left|right|center)$/.test(n.getAttribute('align') || ''))
        el.style.textAlign = n.getAttribute('align');
      copyNode(n, el);
      out.appendChild(el);
    } else if (n.nodeType === Node.ELEMENT_NODE) {
      copyNode(n, out); // an element not allowed: its text only
    }
  }
}

/** A fragment holding the allowed elements and the text of html. */
export function safeFragment(html) {
  const doc = new DOMParser().parseFromString(String(html || ''), 'text/html');
  const frag = document.createDocumentFragment();
  copyNode(doc.body, frag);
  return frag;
}

/** The plain text an agent copies: the article body as text, blank lines kept, no markup. */
export function answerText(text) {
  return String(text || '').replace(/\r\n?/g, '\n').replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n').trim();
}
