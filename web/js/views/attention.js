// The attention view (#/attention): everything a person must act on, most urgent first,
// a page at a time. Owns no state; imports i18n, windows, attention, paging and pieces.

import { t } from '../i18n.js';
import { listSpec, PAGE, windowOf } from '../windows.js';
import { attentionList, attentionShown } from '../attention.js';
import { moreButton, pending } from '../paging.js';
import { dryRunNote } from '../pieces.js';

function body() {
  const w = windowOf('attention');
  return pending(w) || [dryRunNote(), attentionList(attentionShown(w), 2), moreButton(w)];
}

export const attention = {
  name: 'attention',
  title: () => t('attention.title'),
  windows: () => [listSpec('attention', '', PAGE)],
  body,
};
