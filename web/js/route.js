// The route being shown: { name, id, params, view }. Only the router in main.js sets it;
// it lives here, importing nothing, so that the modules main.js imports can read it
// without importing main.js back.

let current = { name: 'overview', id: null, params: new URLSearchParams(), view: null };

export const route = () => current;

export function setRoute(next) {
  current = next;
}

// The `name|id` a view's heading and controls are built for.
export const routeKey = () => `${current.name}|${current.id}`;

// Opens an address; asking for the one already shown runs the router again (a search
// submitted twice reads its results again), as the browser sends no hashchange for it.
export function navigate(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}
