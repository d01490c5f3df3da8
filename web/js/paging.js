// What a view shows for its windows while they load, and the "show more" button under a
// list with another page. Owns no state; imports dom, i18n, data, windows, announce,
// pieces and render (the button renders again when its page came).

import { el } from './dom.js';
import { t } from './i18n.js';
import { changed } from './data.js';
import { loadMore } from './windows.js';
import { announce } from './announce.js';
import { loadingOr } from './pieces.js';
import { render } from './render.js';

// A window still loading, or the error that stopped it; null once all are loaded.
export function pending(...windows) {
  const failed = windows.find((w) => !w || (!w.loaded && w.error));
  if (windows.every((w) => w && w.loaded)) return null;
  return [loadingOr(failed ? failed.error : null)];
}

// "Show more" under a list that has another page.
export function moreButton(w) {
  if (!w || !w.next) return null;
  const button = el('button', {
    className: 'secondary', attrs: { type: 'button', 'data-key': `more:${w.spec.key}` },
    text: t('more.show', { shown: w.posts.length, total: w.total }),
  });
  button.addEventListener('click', () => {
    button.disabled = true;
    loadMore(w).catch((err) => {
      announce(t('load.failed', { error: err.message }));
    }).finally(() => {
      changed(); // the button comes back, enabled
      render(false);
    });
  });
  return el('p', { className: 'more' }, button);
}
