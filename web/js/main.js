// Start-up and the router: which view each address (#/…) shows. A new view is one more
// module in views/ and one more entry in VIEWS. Imports dom, i18n, route, render, live
// session and the views; nothing imports it.
//
// A view is an object: `name` (its address #/{name}, or #/{name}/{id} with `takesId`),
// `title(route)`, `body(route)`, and optionally `eyebrow()`, `head(route)` (controls kept
// across refreshes), `windows(route)` (its /api/posts lists, see windows.js),
// `load(route, ids)` (anything else it reads), `enter(route)`, `sameRoute(route)` (a new
// address for the view already shown) and `rendered(route)`.

import { $ } from './dom.js';
import { initialLang, setLang } from './i18n.js';
import { route, setRoute } from './route.js';
import { render } from './render.js';
import { refresh, renderStatus, startLive } from './live.js';
import { loadSession, renderSession } from './session.js';
import { overview } from './views/overview.js';
import { attention } from './views/attention.js';
import { upcoming } from './views/upcoming.js';
import { published } from './views/published.js';
import { posts } from './views/posts.js';
import { post } from './views/post.js';
import { compose } from './views/compose.js';
import { approvals } from './views/approvals.js';
import { people } from './views/people.js';

// Any address no view claims shows the overview.
const VIEWS = [overview, attention, upcoming, published, posts, post, compose, approvals, people];

// While starting, the view title does not take focus from where the browser put it.
let starting = false;

function decoded(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, query] = hash.split('?', 2);
  const params = new URLSearchParams(query || '');
  for (const view of VIEWS) {
    if (view.takesId && path.startsWith(`${view.name}/`)) {
      return { name: view.name, id: decoded(path.slice(view.name.length + 1)), params, view };
    }
  }
  const view = VIEWS.find((v) => !v.takesId && v.name === path) || overview;
  return { name: view.name, id: null, params, view };
}

function onRoute() {
  const before = route();
  const next = parseRoute();
  setRoute(next);
  const sameView = before.name === next.name && before.id === next.id;
  if (next.view.enter) next.view.enter(next);
  if (sameView && next.view.sameRoute) {
    next.view.sameRoute(next);
    render(false);
  } else {
    render(true);
    // Keyboard and screen-reader users land on what they opened.
    if (!starting) $('view-title').focus();
    window.scrollTo(0, 0);
  }
  // What the route shows, read for it (the lists of other routes are not kept).
  refresh();
}

function start() {
  starting = true;
  setLang(initialLang(), false);
  $('lang-select').addEventListener('change', (event) => {
    setLang(event.target.value, true);
    render(true);
    renderStatus();
    renderSession();
  });
  window.addEventListener('hashchange', onRoute);
  onRoute(); // and reads what it shows
  starting = false;
  startLive();
  loadSession();
}

start();
