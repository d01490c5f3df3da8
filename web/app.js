// oshirase dashboard: plain script, no build step, no dependencies.
//
// Every string from the API (titles, texts, departments, errors, event details, names) is
// written by staff or by a network and therefore untrusted. The DOM is built with
// createElement, textContent, append and setAttribute only: never innerHTML, outerHTML,
// insertAdjacentHTML or document.write. Links to the outside are made only from http(s)
// URLs. The page runs under a strict CSP (no inline script or style), so all behaviour is
// wired up here and all looks live in style.css.
'use strict';

(() => {
  // ================================================================ dictionary
  // All UI text, in Japanese and English. `{name}` is replaced by a value (as text, or as an
  // element where a message holds a command or a link).
  const I18N = {
    ja: {
      'skip': '本文へ移動',
      'app.subtitle': '投稿状況ダッシュボード',
      'lang.label': '表示言語',
      'nav.label': '表示の切り替え',
      'nav.overview': '概要',
      'nav.attention': '要対応',
      'nav.upcoming': '予定',
      'nav.published': '投稿済み',
      'nav.posts': '検索',
      'nav.count': '{n}件',
      'live.connecting': '接続中…',
      'live.live': 'ライブ更新中',
      'live.offline': 'オフライン（再接続を試みています）',
      'live.unsupported': '自動更新（30秒ごと）',
      'sync.ok': '同期済み {commit}（{time}）',
      'sync.none': '未同期',
      'sync.error': '同期・取得に問題があります',
      'sync.paused': '停止中の投稿先があります',
      'sync.unavailable': '同期状態を取得できません',
      'updated': '最終更新 {time}',
      'updated.failed': '更新に失敗しました（{time}）。表示は最後に取得した内容です。',
      'times.in': '時刻は {tz} で表示しています。',
      'times.local': 'リポジトリにタイムゾーンの設定がないため、この端末の時刻で表示しています。',
      'dryrun': 'リハーサル中（--dry-run）：すべての投稿先はファイル（outbox）に書き出され、SNS には送信されません。',
      'loading': '読み込み中…',
      'load.failed': '読み込めませんでした（{error}）。',
      'none': '—',
      'yes': 'はい',
      'no': 'いいえ',
      'asap': '承認後すぐ',
      'list.sep': '、',

      'overview.title': '投稿状況',
      'overview.summary': '概況',
      'tile.attention': '要対応',
      'tile.upcoming': '24時間以内の予定',
      'tile.published': '本日の投稿',
      'tile.paused': '停止中の投稿先',
      'overview.upcoming': '今後の予定',
      'overview.upcoming.more': '予定をすべて表示（{n}件）',
      'overview.attention.more': '要対応をすべて表示（{n}件）',
      'more.show': 'さらに表示（{total}件中 {shown}件を表示中）',
      'overview.recent': '最近の投稿',
      'overview.recent.more': '投稿済みをすべて表示',

      'attention.title': '要対応',
      'attention.none': '対応が必要なものはありません。',
      'attention.reason': '理由',
      'attention.todo': '対応',
      'attention.networks': '投稿先: {networks}',
      'attention.due': '公開予定 {time}',
      'attn.fetch.title': 'リポジトリを取得できません',
      'attn.fetch.todo': 'サーバーから git サーバーへの接続と、デプロイ用トークンまたは鍵（OSHIRASE_GIT_TOKEN / OSHIRASE_GIT_SSH_KEY）を確認してください。最後に取得した内容で予定どおり投稿は続きます。',
      'attn.config.title': '承認されていない oshirase.yaml の変更があります',
      'attn.config.pushed': 'コミット {commit}（{who}）',
      'attn.config.todo': '承認者がプルリクエストをマージするまで、承認済みの設定（コミット {commit}）のまま動き続けます。意図しない変更なら元に戻してください。',
      'attn.sync.title': 'ブランチを同期できません',
      'attn.sync.todo': '示されたファイル（oshirase.yaml や投稿）をプルリクエストで修正してください。修正されるまで、最後に正常だった設定で動き続けます。',
      'attn.notpost.title': '投稿として読めない Markdown ファイルがあります（{count} 件）',
      'attn.notpost.todo': '投稿のつもりなら示された行を直してください。このままでは公開されません。投稿でない文書なら README などの名前にしてください。',
      'attn.paused.title': '投稿先 {network} を停止中',
      'attn.paused.todo': 'サーバーの {network} の認証情報（oshirase.yaml の credentials: が指す秘密情報）を更新してください。配信は失われず待機し、認証が通ると送信されます。次の確認 {time}。',
      'attn.invalid.todo': '示された行をプルリクエストで修正してください。マージされると改めて予定に入ります。修正前に `oshirase check` で確認できます。',
      'attn.held.todo.merge': '提案者以外の承認者（{approvers}）が、プルリクエストを「マージコミット」でマージする必要があります。',
      'attn.held.todo.branch': '承認の条件を満たすまで保留されます。理由を確認し、承認者に相談してください。',
      'attn.unknown.todo': '{network} に投稿されているか確認し、結果を記録してください: {published} または {notpublished}',
      'attn.failed.todo': '原因（本文、画像、認証情報など）を直し、新しい投稿ファイルとして提案し直してください。失敗した配信は二重投稿を防ぐため自動では再送されません。',
      'attn.missed.todo': '公開予定時刻を{lateness}以上過ぎていたため送信しませんでした。送る場合は publish_at を新しい時刻に変えて提案し直してください。',
      'attn.edited.reason': '投稿済みのあとでファイルが変更されました。変更は送信されていません。',
      'attn.edited.todo': '必要なら、各 SNS 上の投稿を手作業で修正または削除してください。',
      'attn.retrying.todo': '一時的なエラーのため自動で再試行します（次回 {time}）。',

      'upcoming.title': '予定',
      'upcoming.none': '予定されている投稿はありません。',
      'upcoming.hour': '{hour}時台',
      'upcoming.count': '{n}件',

      'published.title': '投稿済み',
      'published.none': 'まだ投稿されたものはありません。',
      'published.network': '{network}（{type}）',
      'published.count': '{n}件',
      'published.limited': '新しい {shown} 件を表示しています（全 {n} 件）。',
      'published.caption': '{network} に投稿済みの投稿',
      'nolink': 'リンクなし',

      'posts.title': '投稿の検索',
      'posts.form': '検索条件',
      'posts.q': 'キーワード',
      'posts.q.hint': '件名・本文・部署・ファイル名から探します。',
      'posts.department': '部署',
      'posts.account': 'アカウント',
      'posts.network': '投稿先',
      'posts.state': '状態',
      'posts.from': '公開日（から）',
      'posts.to': '公開日（まで）',
      'posts.any': 'すべて',
      'posts.submit': '検索',
      'posts.clear': '条件をクリア',
      'posts.results': '検索結果 {n}件',
      'posts.none': '条件に合う投稿はありません。',
      'posts.caption': '検索結果',
      'posts.found': '{n}件の投稿が見つかりました。',

      'col.time': '公開日時',
      'col.title': '件名',
      'col.department': '部署',
      'col.account': 'アカウント',
      'col.state': '状態',
      'col.networks': '投稿先',
      'col.network': '投稿先',
      'col.published': '投稿日時',
      'col.link': 'リンク',
      'col.at': '日時',
      'col.event': '出来事',
      'col.actor': '実行者',
      'col.detail': '詳細',
      'facts.due': '{time} に公開予定',
      'facts.missed': '予定時刻 {time} から {late} 過ぎたため送信しませんでした（許容は {max} まで）',
      'facts.not-configured': 'このネットワークは現在の設定にないため待機しています',
      'facts.attempt': '{n} 回目の送信（キー {key}）',
      'facts.published': '{place} に公開しました（予定時刻の {lag} ミリ秒後）',
      'facts.settled': '再起動後に確認: ',
      'facts.config': '（設定 {commit}）',
      'facts.retrying': '{message}。{time} にもう一度送ります',
      'facts.gave-up': '{message}。{n} 回試しましたが、次の再送が retry_for（予定時刻から {dur}）を過ぎるため、あきらめました',
      'facts.refused': '{message}（{n} 回目で拒否されました）',
      'facts.credentials-refused': '認証情報が拒否されました: {message}',
      'facts.resent': '再起動で中断されたため、同じキーでもう一度送ります',
      'facts.interrupted': '再起動で中断されました（{why}）。ネットワーク上で投稿されたか確認してください',
      'facts.removed': '送信前にブランチから削除されました',
      'facts.retracting': 'ネットワークから削除しています（{n} 回目）',
      'facts.retracted': 'ネットワークから削除しました',
      'facts.retract-failed': '{message}。ネットワーク上で手作業で削除してください',
      'facts.landing.merged': '{file}: コミット {commit}。{proposer} が提案し、{approver} が承認しました',
      'facts.landing.pushed': '{file}: コミット {commit}。{proposer} がマージを通さずに push しました',
      'facts.landing.unknown': '{file}: だれがブランチに入れたか分かりません',
      'facts.landing.back': 'ブランチに戻りました。',
      'hold.no-landing': 'この版を加えたコミットが見つかりません',
      'hold.forge-squash': 'コミット {commit}（{by}）は、フォージ上での {request} のスカッシュまたはリベースによるマージのようです。マージコミットが残らないため、だれが承認したか git からは分かりません。「Create a merge commit」でマージするか、`approval: { mode: branch }` とフォージのブランチ保護によるレビュー必須を使ってください',
      'hold.direct': 'コミット {commit}（{by}）は承認者のマージを通さずにブランチに直接入りました。アカウントの承認者が承認するプルリクエストでマージしてください',
      'hold.no-base': 'ブランチにそれより前のコミットがなく、承認者の一覧を読めません',
      'hold.base-unreadable': 'マージ {commit} の前の承認者一覧を読めません: {error}',
      'hold.not-approver': 'マージ {commit} をした {by} は、アカウント `{account}` の承認者ではありません（マージ前の一覧と、現在有効な設定の両方で確認しています）',
      'hold.own-merge': 'マージ {commit} をした {by} は、この変更の提案者でもあります。別の承認者がマージしてください',
      'hold.unknown': '承認待ちです',
      'facts.network-removed': '送信前に、このネットワークが投稿から外されました',
      'facts.retracted-before-sent': '送信前に取り下げられました',
      'facts.retract-requested': '承認された `retract: true` により、削除を依頼しました',
      'facts.retract-held': '取り下げは承認待ちです: {reason}',
      'facts.edited-after-publish': 'このネットワークへの配信が「{state}」になった後で投稿が変更されました。再送はしません（必要ならネットワーク上で削除・訂正してください）',
      'facts.file-removed': '{file} がブランチからなくなりました（{commit}）',
      'facts.resolved-published': '運用担当者が {url} に公開済みであることを確認しました',
      'facts.resolved-not-published': '運用担当者が未公開であることを確認しました。もう一度送ります',
      'duration.h': '{n}時間',
      'duration.m': '{n}分',
      'duration.s': '{n}秒',

      'post.eyebrow': '投稿の詳細',
      'post.notfound': 'この投稿は見つかりません（ID: {id}）。',
      'post.networks': '各投稿先に送られる内容',
      'post.nodeliveries': 'この投稿には配信がありません。',
      'post.text': '{network} に送られる本文',
      'post.count': '文字数 {length} / 上限 {limit}',
      'post.count.over': '上限を {n} 超えています',
      'post.count.unknown': '文字数の記録はありません',
      'post.attempts': '試行回数 {n}',
      'post.next': '次回試行 {time}',
      'post.published': '投稿日時 {time}',
      'post.open': '{network} で開く',
      'post.lasterror': '最後のエラー',
      'post.images': '画像 {n}枚',
      'post.image.alt': '代替テキスト',
      'post.image.noalt': '代替テキストがありません',
      'post.image.file': 'ファイル',
      'post.image.size': 'サイズ',
      'post.image.nothumb': '画像は投稿後に表示されます',
      'post.provenance': '提案と承認',
      'post.proposer': '提案者',
      'post.proposed_at': '提案日時',
      'post.approver': '承認者',
      'post.approved_at': '承認日時',
      'post.commit': 'コミット',
      'post.commit.link': '{forge} でコミットを見る',
      'post.file': 'ファイル',
      'post.file.link': '{forge} でファイルを見る',
      'post.id': '投稿 ID',
      'post.publish_at': '公開予定',
      'post.on_branch': 'ブランチ上にある',
      'post.audit': '履歴（監査ログ）',
      'post.audit.caption': 'この投稿に起きたすべての出来事（古い順）',
      'post.noevents': '記録はありません。',

      'actor.service': 'oshirase（自動）',
      'actor.git': '{name}（git）',
      'actor.operator': '{name}（オペレーター）',

      'state.invalid': '不備',
      'state.held': '保留',
      'state.unknown': '不明',
      'state.failed': '失敗',
      'state.retrying': '再試行中',
      'state.publishing': '投稿中',
      'state.scheduled': '予定',
      'state.missed': '期限切れ',
      'state.published': '投稿済み',
      'state.cancelled': '取消',
      'state.retracted': '撤回済み',
      'state.edited': '投稿後に変更',
      'state.problem': '問題',
      'state.paused': '停止中',

      'event.landed': '承認・取り込み',
      'event.restored': 'ブランチに復帰',
      'event.edited': '変更',
      'event.removed': 'ブランチから削除',
      'event.invalid': '不備',
      'event.held': '保留',
      'event.scheduled': '予定に登録',
      'event.rescheduled': '予定を変更',
      'event.cancelled': '取消',
      'event.publishing': '投稿を開始',
      'event.published': '投稿済み',
      'event.retrying': '再試行予定',
      'event.waiting': '待機',
      'event.failed': '失敗',
      'event.unknown': '不明',
      'event.missed': '期限切れ',
      'event.resolved': '手動で確定',
      'event.edited-after-publish': '投稿後に変更',
      'event.retract-requested': '撤回の依頼',
      'event.retract-held': '撤回を保留',
      'event.retracting': '撤回中',
      'event.retract-retrying': '撤回を再試行',
      'event.retract-failed': '撤回に失敗',
      'event.retracted': '撤回済み',

      'announce.delivery': '「{title}」{network}: {state}。',
      'announce.new': '新しい投稿「{title}」: {state}。',
      'announce.many': '{n}件の変化があります。',
      'announce.live': 'ライブ更新に接続しました。',
      'announce.offline': 'サーバーとの接続が切れました。再接続を試みています。',
      'duration.hours': '{n}時間',
      'duration.minutes': '{n}分',
    },
    en: {
      'skip': 'Skip to main content',
      'app.subtitle': 'Publish status dashboard',
      'lang.label': 'Language',
      'nav.label': 'Views',
      'nav.overview': 'Overview',
      'nav.attention': 'Needs attention',
      'nav.upcoming': 'Upcoming',
      'nav.published': 'Published',
      'nav.posts': 'Search',
      'nav.count': '{n}',
      'live.connecting': 'Connecting…',
      'live.live': 'Live',
      'live.offline': 'Offline (reconnecting)',
      'live.unsupported': 'Refreshing every 30 s',
      'sync.ok': 'Synced {commit} ({time})',
      'sync.none': 'Not synced yet',
      'sync.error': 'Sync or fetch has a problem',
      'sync.paused': 'A network is paused',
      'sync.unavailable': 'Sync status unavailable',
      'updated': 'Last updated {time}',
      'updated.failed': 'Refresh failed ({time}); showing what was last loaded.',
      'times.in': 'Times are shown in {tz}.',
      'times.local': 'The repository sets no timezone, so times are shown in this device\'s timezone.',
      'dryrun': 'Rehearsal (--dry-run): every network writes to an outbox file; nothing is sent to the networks.',
      'loading': 'Loading…',
      'load.failed': 'Could not load ({error}).',
      'none': '—',
      'yes': 'Yes',
      'no': 'No',
      'asap': 'As soon as approved',
      'list.sep': ', ',

      'overview.title': 'Publish status',
      'overview.summary': 'At a glance',
      'tile.attention': 'Need attention',
      'tile.upcoming': 'Due in the next 24 h',
      'tile.published': 'Published today',
      'tile.paused': 'Networks paused',
      'overview.upcoming': 'Coming up',
      'overview.upcoming.more': 'Show everything upcoming ({n})',
      'overview.attention.more': 'Show everything to act on ({n})',
      'more.show': 'Show more ({shown} of {total} shown)',
      'overview.recent': 'Recently published',
      'overview.recent.more': 'Show everything published',

      'attention.title': 'Needs attention',
      'attention.none': 'Nothing needs attention.',
      'attention.reason': 'Reason',
      'attention.todo': 'What to do',
      'attention.networks': 'Networks: {networks}',
      'attention.due': 'Due {time}',
      'attn.fetch.title': 'The repository cannot be fetched',
      'attn.fetch.todo': 'Check the server\'s connection to the git server and the deploy token or key (OSHIRASE_GIT_TOKEN / OSHIRASE_GIT_SSH_KEY). What was last fetched keeps going out on time.',
      'attn.config.title': 'A change to oshirase.yaml is not approved',
      'attn.config.pushed': 'commit {commit} by {who}',
      'attn.config.todo': 'The approved configuration (commit {commit}) stays in force until an approver merges the change in a pull request. Revert it if nobody meant it.',
      'attn.sync.title': 'The branch cannot be synced',
      'attn.sync.todo': 'Fix the file named (oshirase.yaml or a post) in a pull request. Until then the last good configuration stays in use.',
      'attn.notpost.title': 'Markdown files that cannot be read as posts ({count})',
      'attn.notpost.todo': 'If a file is meant to be a post, fix the line shown: as it is, it will never be published. If it is documentation, name it README or similar.',
      'attn.paused.title': 'Network {network} is paused',
      'attn.paused.todo': 'Renew the credentials of {network} on the server (the secrets its credentials: entry in oshirase.yaml names). Its deliveries wait and go out once it works. Next check {time}.',
      'attn.invalid.todo': 'Fix the lines shown in a pull request; once merged the post is scheduled again. `oshirase check` shows the problems before merging.',
      'attn.held.todo.merge': 'An approver other than the proposer ({approvers}) must merge the pull request with a merge commit.',
      'attn.held.todo.branch': 'It waits until the approval rules are met: read the reason and talk to an approver.',
      'attn.unknown.todo': 'Check on {network} whether it was posted, then record what you found: {published} or {notpublished}',
      'attn.failed.todo': 'Fix the cause (text, images, credentials), then propose it again as a new post file. A failed delivery is never re-sent on its own, so nothing goes out twice.',
      'attn.missed.todo': 'It was more than {lateness} late, so it was not sent. To send it anyway, propose it again with a new publish_at.',
      'attn.edited.reason': 'The file changed after it was published; the change was not sent.',
      'attn.edited.todo': 'If needed, correct or delete the post on each network by hand.',
      'attn.retrying.todo': 'A temporary error: it is retried automatically (next {time}).',

      'upcoming.title': 'Upcoming',
      'upcoming.none': 'Nothing is scheduled.',
      'upcoming.hour': '{hour}:00–{hour}:59',
      'upcoming.count': '{n}',

      'published.title': 'Published',
      'published.none': 'Nothing has been published yet.',
      'published.network': '{network} ({type})',
      'published.count': '{n} published',
      'published.limited': 'Showing the newest {shown} of {n}.',
      'published.caption': 'Posts published on {network}',
      'nolink': 'no link',

      'posts.title': 'Search posts',
      'posts.form': 'Search criteria',
      'posts.q': 'Keywords',
      'posts.q.hint': 'Searches titles, texts, departments and file names.',
      'posts.department': 'Department',
      'posts.account': 'Account',
      'posts.network': 'Network',
      'posts.state': 'State',
      'posts.from': 'Publish date from',
      'posts.to': 'Publish date to',
      'posts.any': 'Any',
      'posts.submit': 'Search',
      'posts.clear': 'Clear',
      'posts.results': '{n} results',
      'posts.none': 'No post matches.',
      'posts.caption': 'Search results',
      'posts.found': '{n} posts found.',

      'col.time': 'Publish time',
      'col.title': 'Title',
      'col.department': 'Department',
      'col.account': 'Account',
      'col.state': 'State',
      'col.networks': 'Networks',
      'col.network': 'Network',
      'col.published': 'Published',
      'col.link': 'Link',
      'col.at': 'Time',
      'col.event': 'Event',
      'col.actor': 'By',
      'col.detail': 'Detail',
      'facts.due': 'due {time}',
      'facts.missed': 'due at {time}, {late} late, beyond max_lateness {max}; not sent',
      'facts.not-configured': 'the network is not in the current configuration; waiting',
      'facts.attempt': 'attempt {n} with key {key}',
      'facts.published': 'published at {place} ({lag} ms after its time)',
      'facts.settled': 'settled after a restart: ',
      'facts.config': '; configuration {commit}',
      'facts.retrying': '{message}; next attempt {time}',
      'facts.gave-up': '{message}; gave up after {n} attempts, the next would fall beyond retry_for ({dur} after its time)',
      'facts.refused': '{message} (refused at attempt {n})',
      'facts.credentials-refused': 'credentials refused: {message}',
      'facts.resent': 'interrupted by a restart; sent again with the same key',
      'facts.interrupted': 'interrupted by a restart ({why}); check on the network whether it went out',
      'facts.removed': 'removed from the branch before it was sent',
      'facts.retracting': 'deleting it from the network (attempt {n})',
      'facts.retracted': 'deleted from the network',
      'facts.retract-failed': '{message}; delete it on the network by hand',
      'facts.landing.merged': '{file}: commit {commit}, proposed by {proposer}, approved by {approver}',
      'facts.landing.pushed': '{file}: commit {commit}, pushed by {proposer} without a merge',
      'facts.landing.unknown': '{file}: who brought it to the branch is not known',
      'facts.landing.back': 'Back on the branch. ',
      'hold.no-landing': 'the commit that added this version could not be found',
      'hold.forge-squash': 'commit {commit} by {by} looks like a squash or rebase merge of {request} on the forge; such merges leave no merge commit, so git cannot show who approved it. Merge with "Create a merge commit", or use `approval: { mode: branch }` with the forge\'s branch protection requiring review',
      'hold.direct': 'commit {commit} by {by} reached the branch directly, not through a merge by an approver; merge it through a pull request approved by one of the account\'s approvers',
      'hold.no-base': 'the branch had no earlier commit to read the approver list from',
      'hold.base-unreadable': 'the approver list before merge {commit} cannot be read: {error}',
      'hold.not-approver': 'merge {commit} was made by {by}, who is not an approver of account `{account}` (as listed before the merge and in the configuration in force)',
      'hold.own-merge': 'merge {commit} was made by {by}, who also proposed the change; another approver must merge it',
      'hold.unknown': 'held for approval',
      'facts.network-removed': 'the network was removed from the post before it was sent',
      'facts.retracted-before-sent': 'retracted before it was sent',
      'facts.retract-requested': 'an approved `retract: true` asks to delete it',
      'facts.retract-held': 'retract not approved: {reason}',
      'facts.edited-after-publish': 'the post changed after this network\'s delivery became {state}; it is not sent again (delete or correct it on the network if needed)',
      'facts.file-removed': '{file} is no longer on the branch (at {commit})',
      'facts.resolved-published': 'an operator confirmed it is published at {url}',
      'facts.resolved-not-published': 'an operator confirmed it was not published; sending it again',
      'duration.h': '{n}h',
      'duration.m': '{n}m',
      'duration.s': '{n}s',

      'post.eyebrow': 'Post',
      'post.notfound': 'There is no post with the id {id}.',
      'post.networks': 'What each network receives',
      'post.nodeliveries': 'This post has no deliveries.',
      'post.text': 'Text sent to {network}',
      'post.count': 'Length {length} of {limit}',
      'post.count.over': '{n} over the limit',
      'post.count.unknown': 'No length recorded',
      'post.attempts': 'Attempts {n}',
      'post.next': 'Next attempt {time}',
      'post.published': 'Published {time}',
      'post.open': 'Open on {network}',
      'post.lasterror': 'Last error',
      'post.images': 'Images ({n})',
      'post.image.alt': 'Alt text',
      'post.image.noalt': 'No alt text',
      'post.image.file': 'File',
      'post.image.size': 'Size',
      'post.image.nothumb': 'The image is shown once it is published',
      'post.provenance': 'Proposal and approval',
      'post.proposer': 'Proposer',
      'post.proposed_at': 'Proposed',
      'post.approver': 'Approver',
      'post.approved_at': 'Approved',
      'post.commit': 'Commit',
      'post.commit.link': 'View the commit on {forge}',
      'post.file': 'File',
      'post.file.link': 'View the file on {forge}',
      'post.id': 'Post id',
      'post.publish_at': 'Publish time',
      'post.on_branch': 'On the branch',
      'post.audit': 'Audit trail',
      'post.audit.caption': 'Everything that happened to this post, oldest first',
      'post.noevents': 'No events recorded.',

      'actor.service': 'oshirase (automatic)',
      'actor.git': '{name} (git)',
      'actor.operator': '{name} (operator)',

      'state.invalid': 'Invalid',
      'state.held': 'Held',
      'state.unknown': 'Unknown',
      'state.failed': 'Failed',
      'state.retrying': 'Retrying',
      'state.publishing': 'Publishing',
      'state.scheduled': 'Scheduled',
      'state.missed': 'Missed',
      'state.published': 'Published',
      'state.cancelled': 'Cancelled',
      'state.retracted': 'Retracted',
      'state.edited': 'Edited after publishing',
      'state.problem': 'Problem',
      'state.paused': 'Paused',

      'event.landed': 'Approved and landed',
      'event.restored': 'Back on the branch',
      'event.edited': 'Edited',
      'event.removed': 'Removed from the branch',
      'event.invalid': 'Invalid',
      'event.held': 'Held',
      'event.scheduled': 'Scheduled',
      'event.rescheduled': 'Rescheduled',
      'event.cancelled': 'Cancelled',
      'event.publishing': 'Publishing',
      'event.published': 'Published',
      'event.retrying': 'Retry planned',
      'event.waiting': 'Waiting',
      'event.failed': 'Failed',
      'event.unknown': 'Unknown',
      'event.missed': 'Missed',
      'event.resolved': 'Settled by hand',
      'event.edited-after-publish': 'Edited after publishing',
      'event.retract-requested': 'Retract requested',
      'event.retract-held': 'Retract held',
      'event.retracting': 'Retracting',
      'event.retract-retrying': 'Retract retry planned',
      'event.retract-failed': 'Retract failed',
      'event.retracted': 'Retracted',

      'announce.delivery': '“{title}” on {network}: {state}.',
      'announce.new': 'New post “{title}”: {state}.',
      'announce.many': '{n} changes.',
      'announce.live': 'Live updates connected.',
      'announce.offline': 'Lost the connection to the server; reconnecting.',
      'duration.hours': '{n} h',
      'duration.minutes': '{n} min',
    },
  };

  const LANGS = ['ja', 'en'];
  const LANG_KEY = 'oshirase.lang';
  const LOCALES = { ja: 'ja-JP', en: 'en-GB' };
  const EVENT_DELAY_MS = 300; // events come in bursts (one per delivery): fetch once per burst
  const PAGE = 100; // posts per page of a full view
  const MAX_PAGE = 1000; // the most /api/posts gives at once (src/post_list.rs)
  const MAX_IDS = 200; // the most posts one request may name; more is a full refresh
  const OVERVIEW_ATTENTION = 50;
  const POLL_MS = 30000; // fallback while the event stream is down
  const RECONNECT_MS = 5000; // after the browser gave up reconnecting by itself
  const OVERVIEW_UPCOMING = 8;
  const OVERVIEW_RECENT = 8;
  const PUBLISHED_PER_NETWORK = 100;

  // Delivery states in the order DESIGN.md ranks them: what needs a person first.
  const STATES = ['invalid', 'held', 'unknown', 'failed', 'retrying', 'publishing', 'scheduled',
    'missed', 'published', 'cancelled', 'retracted'];
  // A shape next to every state, so no state is told by colour alone.
  const ICONS = new Map([
    ['invalid', '!'], ['held', '‖'], ['unknown', '?'], ['failed', '✕'], ['retrying', '↻'],
    ['publishing', '→'], ['scheduled', '◷'], ['missed', '⊘'], ['published', '✓'],
    ['cancelled', '–'], ['retracted', '↩'], ['edited', '✎'], ['problem', '!'], ['paused', '‖'],
  ]);
  // What a person must act on, most urgent first.
  const ATTENTION = ['invalid', 'held', 'unknown', 'failed', 'missed'];
  const UPCOMING = ['scheduled', 'retrying', 'publishing'];
  const ANNOUNCED = new Set(['published', 'failed', 'unknown', 'held', 'missed', 'invalid', 'retracted']);

  // ================================================================ state

  const app = {
    lang: 'ja',
    route: { name: 'overview', id: null, params: new URLSearchParams() },
    info: null,
    health: null,
    healthError: null,
    summary: null, // the counts, from /api/summary
    summaryError: null,
    windows: new Map(), // the lists the route shows, each a page of /api/posts (see loading)
    known: new Map(), // post id → delivery states as last seen, for announcements
    raw: new Map(), // last response text per URL, to skip re-rendering when nothing changed
    version: 0, // bumped whenever any data changed
    detail: { id: null, post: null, error: null, notFound: false },
    live: 'connecting',
    updatedAt: null,
    refreshFailed: false,
    rendered: { head: null, body: null },
    eventTimer: null,
    refreshing: null,
    needFull: false, // a full refresh is waiting
    pendingIds: new Set(), // posts live events named since the last update
    pendingEvents: [],
    focusResults: false,
  };

  const $ = (id) => document.getElementById(id);
  const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);
  const list = (value) => (Array.isArray(value) ? value : []);
  const str = (value) => (value === null || value === undefined ? '' : String(value));

  // ================================================================ DOM helpers

  // The one way this file creates elements. `text` goes through textContent and children
  // through append(), which makes Text nodes of strings: nothing is parsed as HTML.
  // Attribute names are always literals from this file, never from data.
  function el(tag, opts = {}, ...children) {
    const node = document.createElement(tag);
    if (opts.className) node.className = opts.className;
    if (opts.attrs) {
      for (const [name, value] of Object.entries(opts.attrs)) {
        if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
      }
    }
    if (opts.text !== null && opts.text !== undefined) node.textContent = String(opts.text);
    for (const child of children.flat(Infinity)) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  // Only http(s) addresses become links: a remote_url such as "javascript:…" or "data:…"
  // must never be clickable. Returns the normalised address or null.
  function safeUrl(raw) {
    if (typeof raw !== 'string' || raw === '') return null;
    try {
      const url = new URL(raw);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
      if (url.username || url.password) return null; // never show credentials
      return url.href;
    } catch {
      return null;
    }
  }

  function externalLink(href, text) {
    return el('a', { className: 'external', attrs: { href, rel: 'noopener noreferrer', target: '_blank' }, text });
  }

  function postHref(id) {
    return `#/post/${encodeURIComponent(str(id))}`;
  }

  function postLink(post) {
    return el('a', { className: 'post-link', attrs: { href: postHref(post.id), 'data-key': `post:${str(post.id)}` }, text: titleOf(post) });
  }

  function titleOf(post) {
    return post && post.title ? String(post.title) : str(post && post.id);
  }

  function code(text) {
    return el('code', { text });
  }

  // A heading of the given level (2–6).
  function heading(level, opts, ...children) {
    return el(`h${Math.min(6, Math.max(1, level))}`, opts, ...children);
  }

  // ================================================================ i18n

  function t(key, params) {
    const table = I18N[app.lang] || I18N.en;
    let text = has(table, key) ? table[key] : (has(I18N.en, key) ? I18N.en[key] : key);
    if (params) {
      text = text.replace(/\{(\w+)\}/g, (whole, name) => (has(params, name) ? str(params[name]) : whole));
    }
    return text;
  }

  // A message whose placeholders are elements (a command, a time): an array of nodes.
  function tNodes(key, params) {
    const table = I18N[app.lang] || I18N.en;
    const text = has(table, key) ? table[key] : (has(I18N.en, key) ? I18N.en[key] : key);
    const out = [];
    let last = 0;
    for (const match of text.matchAll(/\{(\w+)\}/g)) {
      out.push(text.slice(last, match.index));
      const value = has(params, match[1]) ? params[match[1]] : match[0];
      out.push(value instanceof Node ? value : str(value));
      last = match.index + match[0].length;
    }
    out.push(text.slice(last));
    return out.filter((part) => part !== '');
  }

  function initialLang() {
    try {
      const saved = localStorage.getItem(LANG_KEY);
      if (LANGS.includes(saved)) return saved;
    } catch {
      // Storage may be disabled; the browser's language decides then.
    }
    const langs = navigator.languages && navigator.languages.length > 0 ? navigator.languages : [navigator.language];
    return str(langs[0]).toLowerCase().startsWith('ja') ? 'ja' : 'en';
  }

  function setLang(lang, persist) {
    app.lang = LANGS.includes(lang) ? lang : 'en';
    document.documentElement.lang = app.lang;
    if (persist) {
      try {
        localStorage.setItem(LANG_KEY, app.lang);
      } catch {
        // Not persisted; the choice still holds for this page.
      }
    }
    $('lang-select').value = app.lang;
    for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.getAttribute('data-i18n'));
    for (const node of document.querySelectorAll('[data-i18n-label]')) node.setAttribute('aria-label', t(node.getAttribute('data-i18n-label')));
    formatters.clear();
  }

  // ================================================================ times

  // Times are shown in the repository's timezone (from /api/info), whatever the viewer's
  // machine is set to; without one, in the viewer's own.
  function zone() {
    return app.info && typeof app.info.timezone === 'string' && app.info.timezone !== '' ? app.info.timezone : undefined;
  }

  const FORMATS = {
    datetime: { year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
    seconds: { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' },
    day: { year: 'numeric', month: 'long', day: 'numeric', weekday: 'short' },
    time: { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
    clock: { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' },
    parts: { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
  };
  const formatters = new Map();

  function formatter(kind) {
    const key = `${app.lang}|${zone()}|${kind}`;
    let f = formatters.get(key);
    if (!f) {
      const locale = kind === 'parts' ? 'en-CA' : LOCALES[app.lang];
      try {
        f = new Intl.DateTimeFormat(locale, { ...FORMATS[kind], timeZone: zone() });
      } catch {
        f = new Intl.DateTimeFormat(locale, FORMATS[kind]); // an unknown zone name
      }
      formatters.set(key, f);
    }
    return f;
  }

  function ms(value) {
    return typeof value === 'string' && value !== '' ? Date.parse(value) : NaN;
  }

  function formatTime(value, kind = 'datetime') {
    const at = typeof value === 'number' ? value : ms(value);
    return Number.isNaN(at) ? str(value) : formatter(kind).format(at);
  }

  // A <time> with the exact RFC 3339 value as machine-readable datetime.
  function timeEl(value, kind = 'datetime', empty = null) {
    if (value === null || value === undefined || value === '') return el('span', { className: 'muted', text: empty || t('none') });
    const at = ms(value);
    if (Number.isNaN(at)) return el('span', { text: str(value) });
    return el('time', { attrs: { datetime: new Date(at).toISOString() }, text: formatter(kind).format(at) });
  }

  // Calendar fields of an instant in the display timezone.
  function zoneParts(at) {
    const out = {};
    for (const p of formatter('parts').formatToParts(at)) {
      if (p.type !== 'literal') out[p.type] = Number(p.value);
    }
    if (out.hour === 24) out.hour = 0;
    return out;
  }

  function dayKey(at) {
    const p = zoneParts(at);
    return `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
  }

  // The instant at which the display timezone's clock shows this wall time.
  function wallToInstant(year, month, day, hour, minute) {
    const guess = Date.UTC(year, month - 1, day, hour, minute);
    const offsetAt = (at) => {
      const p = zoneParts(at);
      return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - Math.floor(at / 60000) * 60000;
    };
    let at = guess - offsetAt(guess);
    const again = guess - offsetAt(at);
    if (again !== at) at = again; // the offset changed in between (summer time)
    return at;
  }

  // A <input type=date> value as the RFC 3339 start or end of that day in the display zone.
  function dateToInstant(value, endOfDay) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(str(value));
    if (!m) return null;
    const start = wallToInstant(Number(m[1]), Number(m[2]), Number(m[3]), 0, 0);
    if (!endOfDay) return new Date(start).toISOString();
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const next = new Date(Date.UTC(y, mo - 1, d + 1));
    const end = wallToInstant(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), 0, 0) - 1000;
    return new Date(end).toISOString();
  }

  function duration(secs) {
    const n = Number(secs);
    if (!Number.isFinite(n) || n <= 0) return t('none');
    if (n % 3600 === 0) return t('duration.hours', { n: n / 3600 });
    return t('duration.minutes', { n: Math.round(n / 60) });
  }

  function zoneNote() {
    return el('p', { className: 'zone-note' }, zone() ? t('times.in', { tz: zone() }) : t('times.local'));
  }

  // ================================================================ states

  function stateName(state) {
    return STATES.includes(state) || ['edited', 'problem', 'paused'].includes(state) ? t(`state.${state}`) : str(state);
  }

  // The state in words with a shape; the colour (from the class) only repeats them.
  function badge(state) {
    const known = ICONS.has(state);
    return el('span', { className: `badge state-${known ? state : 'other'}`, attrs: { 'data-state': known ? state : null } },
      el('span', { className: 'badge-icon', attrs: { 'aria-hidden': 'true' }, text: known ? ICONS.get(state) : '•' }),
      ' ', stateName(state));
  }

  function networkBadges(deliveries) {
    return el('ul', { className: 'network-list' }, list(deliveries).map((d) => el('li', {
      className: 'network-state', attrs: { 'data-network': str(d.network), 'data-state': str(d.state) },
    }, el('span', { className: 'network-name', text: str(d.network) }), ' ', badge(d.state))));
  }

  function postWhen(post) {
    const at = ms(post.publish_at);
    if (!Number.isNaN(at)) return at;
    const first = list(post.deliveries)[0];
    return first ? ms(first.due_at) : NaN;
  }

  function byWhen(a, b) {
    const x = postWhen(a);
    const y = postWhen(b);
    const kx = Number.isNaN(x) ? -Infinity : x;
    const ky = Number.isNaN(y) ? -Infinity : y;
    if (kx !== ky) return kx < ky ? -1 : 1;
    return str(a.id) < str(b.id) ? -1 : str(a.id) > str(b.id) ? 1 : 0;
  }

  // ================================================================ loading

  async function fetchText(url) {
    const response = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    const text = await response.text();
    return { response, text };
  }

  // GET a JSON document; `changed` says whether it differs from the last answer for `url`.
  async function getJson(url, { allowStatus = [] } = {}) {
    const { response, text } = await fetchText(url);
    if (!response.ok && !allowStatus.includes(response.status)) {
      const err = new Error(`HTTP ${response.status}`);
      err.status = response.status;
      throw err;
    }
    const changed = app.raw.get(url) !== text;
    app.raw.set(url, text);
    return { data: JSON.parse(text), changed };
  }

  async function loadInfo() {
    try {
      const { data, changed } = await getJson('api/info');
      if (changed) {
        app.info = data && typeof data === 'object' ? data : null;
        formatters.clear();
        app.version++;
      }
    } catch {
      // Without it the dashboard still works, in the viewer's timezone.
    }
  }

  async function loadHealth() {
    try {
      // /healthz answers 503 with the reason while something fails: read it anyway.
      const { data, changed } = await getJson('healthz', { allowStatus: [503] });
      if (changed || app.healthError) {
        app.health = data && typeof data === 'object' ? data : null;
        app.healthError = null;
        app.version++;
      }
    } catch (err) {
      if (!app.healthError) app.version++;
      app.healthError = err.message;
    }
  }

  async function loadDetail() {
    const id = app.route.name === 'post' ? app.route.id : null;
    if (id === null) return;
    const url = `api/posts/${encodeURIComponent(id)}`;
    try {
      const { data, changed } = await getJson(url);
      if (app.route.id !== id) return;
      if (changed || app.detail.id !== id || !app.detail.post) {
        app.detail = { id, post: data, error: null, notFound: false };
        app.version++;
      }
    } catch (err) {
      if (app.route.id !== id) return;
      app.raw.delete(url);
      app.detail = { id, post: null, error: err.message, notFound: err.status === 404 };
      app.version++;
    }
  }

  // The search form's values as /api/posts query parameters (dates become the day's
  // bounds in the repository's timezone).
  function searchQuery(params) {
    const query = new URLSearchParams();
    for (const key of ['q', 'department', 'account', 'network', 'state']) {
      const v = params.get(key);
      if (v) query.set(key, v);
    }
    const from = dateToInstant(params.get('from'), false);
    const to = dateToInstant(params.get('to'), true);
    if (from) query.set('from', from);
    if (to) query.set('to', to);
    return query.toString();
  }

  // ---------------------------------------------------------------- windows
  //
  // The dashboard never reads every post. Each view reads one page of its own list from
  // /api/posts (a window onto that list), the counts come from /api/summary, and a live
  // event reads again only the posts it names (src/post_list.rs).

  // The lists a route shows: a view of /api/posts, its filters, and how many posts the
  // first page holds.
  function windowSpecs(r) {
    const spec = (view, filters, limit) => ({ key: `${view}?${filters}`, view, filters, limit });
    switch (r.name) {
      case 'overview':
        return [spec('attention', '', OVERVIEW_ATTENTION), spec('upcoming', '', OVERVIEW_UPCOMING), spec('published', '', OVERVIEW_RECENT)];
      case 'attention': return [spec('attention', '', PAGE)];
      case 'upcoming': return [spec('upcoming', '', PAGE)];
      case 'published':
        return publishedNetworks().map((n) => spec('published', new URLSearchParams({ network: n }).toString(), PUBLISHED_PER_NETWORK));
      case 'posts': return [spec('all', searchQuery(r.params), PAGE)];
      default: return [];
    }
  }

  // The route's windows, made when first needed; windows of other routes are dropped, as
  // live events no longer keep them true.
  function currentWindows() {
    const specs = windowSpecs(app.route);
    const keys = new Set(specs.map((s) => s.key));
    for (const key of [...app.windows.keys()]) if (!keys.has(key)) app.windows.delete(key);
    return specs.map((s) => {
      let w = app.windows.get(s.key);
      if (!w) {
        w = { spec: s, posts: [], total: 0, next: null, loaded: false, error: null };
        app.windows.set(s.key, w);
      } else if (s.limit > w.spec.limit) {
        w.spec = s;
      }
      return w;
    });
  }

  function windowOf(view, filters = '') {
    return app.windows.get(`${view}?${filters}`) || null;
  }

  function windowUrl(w, extra) {
    const query = new URLSearchParams(w.spec.filters);
    if (w.spec.view !== 'all') query.set('view', w.spec.view);
    for (const [key, value] of extra) query.append(key, String(value));
    return `api/posts?${query}`;
  }

  const postsOf = (data) => list(data && data.posts).filter((p) => p && typeof p === 'object');
  const byCursor = (a, b) => (str(a.cursor) < str(b.cursor) ? -1 : str(a.cursor) > str(b.cursor) ? 1 : 0);

  function setPage(w, data, posts) {
    w.seq = (w.seq || 0) + 1;
    w.posts = posts;
    w.total = Number.isFinite(Number(data && data.total)) ? Number(data.total) : posts.length;
    w.next = data && typeof data.next_cursor === 'string' ? data.next_cursor : null;
    w.loaded = true;
    w.error = null;
    remember(posts);
  }

  // The window's first page again, as long as what it shows.
  async function loadWindow(w) {
    const url = windowUrl(w, [['limit', Math.min(MAX_PAGE, Math.max(w.spec.limit, w.posts.length))]]);
    try {
      const { data, changed } = await getJson(url);
      if (changed || !w.loaded) {
        const fresh = !w.loaded;
        setPage(w, data, postsOf(data));
        app.version++;
        if (fresh && w.spec.view === 'all') announce(t('posts.found', { n: w.total }));
      }
    } catch (err) {
      app.raw.delete(url);
      if (!w.loaded) {
        w.error = err.message;
        app.version++;
      }
      throw err;
    }
  }

  // The page after the last one shown ("show more").
  async function loadMore(w) {
    if (!w.next) return;
    const seq = w.seq;
    const { data } = await getJson(windowUrl(w, [['limit', PAGE], ['cursor', w.next]]));
    // The window changed meanwhile (a live update, a refresh): this page may hold posts
    // that have left the view since; the button asks again.
    if (w.seq !== seq) return;
    const shown = new Set(w.posts.map((p) => str(p.id)));
    setPage(w, data, w.posts.concat(postsOf(data).filter((p) => !shown.has(str(p.id)))));
    app.version++;
  }

  // Puts the posts a live event named where they now belong in the window: out of it,
  // moved, or in (when they sort within what the window shows).
  async function updateWindow(w, ids) {
    const url = windowUrl(w, [['limit', MAX_PAGE], ...ids.map((id) => ['id', id])]);
    const { data } = await getJson(url);
    app.raw.delete(url);
    const named = new Set(ids);
    const posts = w.posts.filter((p) => !named.has(str(p.id)));
    for (const p of postsOf(data)) {
      if (w.next === null || str(p.cursor) <= w.next) posts.push(p);
    }
    posts.sort(byCursor);
    // The first page's cached answer no longer says what the window holds.
    for (const key of [...app.raw.keys()]) if (key.startsWith(windowUrl(w, []))) app.raw.delete(key);
    // Posts left a window that has more to read: what follows them must move up, and only
    // the server knows what that is.
    if (w.next !== null && posts.length < w.spec.limit) {
      await loadWindow(w);
      return;
    }
    setPage(w, { total: data && data.total, next_cursor: w.next }, posts);
    app.version++;
  }

  async function loadSummary() {
    const { data, changed } = await getJson('api/summary');
    if (changed || !app.summary) {
      app.summary = data && typeof data === 'object' ? data : null;
      app.version++;
    }
  }

  // What the dashboard last saw of each post's deliveries, to say what a live event changed.
  function remember(posts) {
    for (const p of posts) app.known.set(str(p.id), new Map(list(p.deliveries).map((d) => [str(d.network), d.state])));
  }

  // ---------------------------------------------------------------- refreshing

  // Everything the route shows, read again: on start, navigation, reconnection, and when
  // the server says this dashboard missed events.
  async function fullRefresh() {
    await loadInfo();
    const counts = await Promise.allSettled([loadSummary(), loadHealth()]);
    const summaryError = counts[0].status === 'rejected' ? str(counts[0].reason && counts[0].reason.message) : null;
    if (summaryError !== app.summaryError) app.version++;
    app.summaryError = summaryError;
    const lists = await Promise.allSettled([...currentWindows().map(loadWindow), loadDetail()]);
    app.refreshFailed = counts[0].status === 'rejected' || lists.some((r) => r.status === 'rejected');
    app.updatedAt = Date.now();
    render(false);
  }

  // A live update: only the posts the events named, and the counts.
  async function liveUpdate(ids, events) {
    const named = `api/posts?${new URLSearchParams(ids.map((id) => ['id', id]))}`;
    // Taken first: the windows below remember what they read as they go.
    const before = new Map(ids.map((id) => [id, app.known.get(id)]));
    const results = await Promise.allSettled([
      getJson(named).then(({ data }) => {
        app.raw.delete(named);
        announceChanges(before, postsOf(data), events);
      }),
      ...currentWindows().map((w) => (w.loaded ? updateWindow(w, ids) : loadWindow(w))),
      loadSummary(),
      loadHealth(),
      ids.includes(app.route.id) ? loadDetail() : null,
    ]);
    app.refreshFailed = results.some((r) => r.status === 'rejected');
    // What failed is read again whole; so is a list the route now shows that was not
    // there (the published view, when a network has its first post).
    if (app.refreshFailed || windowSpecs(app.route).some((spec) => !app.windows.has(spec.key))) app.needFull = true;
    app.updatedAt = Date.now();
    render(false);
  }

  // One refresh at a time: what is asked for meanwhile runs next, a full refresh taking in
  // any live update waiting.
  function refresh() {
    app.needFull = true;
    return work();
  }

  function work() {
    if (app.refreshing) return app.refreshing;
    // Says to assistive technology (and tests) that the view is being brought up to date.
    $('view-body').setAttribute('aria-busy', 'true');
    app.refreshing = (async () => {
      while (app.needFull || app.pendingIds.size > 0) {
        const events = app.pendingEvents;
        const ids = [...app.pendingIds];
        app.pendingEvents = [];
        app.pendingIds = new Set();
        if (app.needFull || ids.length > MAX_IDS) {
          app.needFull = false;
          await fullRefresh();
        } else {
          await liveUpdate(ids, events);
        }
      }
    })().finally(() => {
      app.refreshing = null;
      $('view-body').setAttribute('aria-busy', 'false');
    });
    return app.refreshing;
  }

  // ================================================================ derived lists

  function accountInfo(name) {
    const accounts = list(app.info && app.info.accounts);
    if (name) return accounts.find((a) => a && a.name === name) || null;
    return accounts.length === 1 ? accounts[0] : null;
  }

  function networkType(account, network) {
    const a = accountInfo(account);
    const n = a && list(a.networks).find((x) => x && x.name === network);
    return n ? str(n.type) : null;
  }

  // A shell word for the resolve command: quoted when it holds anything unusual.
  function shellWord(value) {
    const s = str(value);
    return /^[A-Za-z0-9._/@:+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
  }

  // A length of time in whole hours, minutes and seconds, in the reader's language.
  function durationText(secs) {
    const total = Math.max(0, Math.floor(Number(secs) || 0));
    const [h, m, sec] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
    const parts = [];
    if (h > 0) parts.push(t('duration.h', { n: h }));
    if (m > 0) parts.push(t('duration.m', { n: m }));
    if (sec > 0 || parts.length === 0) parts.push(t('duration.s', { n: sec }));
    return parts.join(app.lang === 'ja' ? '' : ' ');
  }

  // What an event or a delivery's reason says, worded from its facts (src/facts.rs) in
  // the reader's language with times in the repository's timezone; `fallback` (the
  // audit log's English) for facts this dashboard does not know.
  function factsText(facts, fallback) {
    if (!facts || typeof facts !== 'object' || typeof facts.code !== 'string') return str(fallback);
    const time = (v) => formatTime(v, 'seconds');
    switch (facts.code) {
      case 'due': return t('facts.due', { time: time(facts.at) });
      case 'missed': return t('facts.missed', { time: time(facts.due_at), late: durationText(facts.late_secs), max: durationText(facts.max_lateness_secs) });
      case 'attempt': return t('facts.attempt', { n: facts.attempt, key: facts.key });
      case 'published': {
        const config = facts.config ? t('facts.config', { commit: facts.config }) : '';
        const settled = facts.settled_after_restart ? t('facts.settled') : '';
        return settled + t('facts.published', { place: facts.place, lag: facts.lag_ms }) + config;
      }
      case 'retrying': return t('facts.retrying', { message: facts.message, time: time(facts.next_at) });
      case 'gave-up': return t('facts.gave-up', { message: facts.message, n: facts.attempts, dur: durationText(facts.retry_for_secs) });
      case 'refused': return t('facts.refused', { message: facts.message, n: facts.attempts });
      case 'credentials-refused': return t('facts.credentials-refused', { message: facts.message });
      case 'interrupted': return t('facts.interrupted', { why: facts.why });
      case 'retracting': return t('facts.retracting', { n: facts.attempt });
      case 'retract-failed': return t('facts.retract-failed', { message: facts.message });
      case 'invalid': return problemText(facts.problem);
      case 'landing': {
        const kind = !facts.commit || !facts.proposer ? 'unknown' : (facts.approver ? 'merged' : 'pushed');
        const text = t(`facts.landing.${kind}`, facts);
        return facts.back_on_branch ? t('facts.landing.back') + text : text;
      }
      case 'held': return holdText(facts.hold, fallback);
      case 'retract-held': return t('facts.retract-held', { reason: holdText(facts.hold, t('hold.unknown')) });
      case 'edited-after-publish': return t('facts.edited-after-publish', { state: t(`state.${facts.state}`) });
      case 'file-removed': return t('facts.file-removed', facts);
      case 'resolved': return facts.url ? t('facts.resolved-published', facts) : t('facts.resolved-not-published');
      case 'network-removed': case 'retracted-before-sent': case 'retract-requested':
        return t(`facts.${facts.code}`);
      case 'not-configured': case 'resent': case 'removed': case 'retracted':
        return t(`facts.${facts.code}`);
      default: return str(fallback);
    }
  }

  // Why a post waits for approval (src/facts.rs, Hold).
  function holdText(hold, fallback) {
    const known = ['no-landing', 'forge-squash', 'direct', 'no-base', 'base-unreadable', 'not-approver', 'own-merge'];
    return hold && typeof hold === 'object' && known.includes(hold.why) ? t(`hold.${hold.why}`, hold) : str(fallback);
  }

  function problemText(problem) {
    if (!problem || typeof problem !== 'object') return str(problem);
    const message = app.lang === 'ja' && problem.message_ja ? problem.message_ja : problem.message;
    const place = problem.line ? `${str(problem.file)}:${problem.line}` : str(problem.file);
    return place ? `${place}: ${str(message)}` : str(message);
  }

  // Everything a person must act on: the system first, then posts by urgency.
  function attentionItems(posts, health) {
    return systemItems(health).concat(postItems(posts));
  }

  // The window's items that are certain: with more to read, none less urgent than the last
  // post read, as an unread post may hold a more urgent one.
  function attentionShown(w) {
    const rank = (kind) => (ATTENTION.includes(kind) ? ATTENTION.indexOf(kind) : ATTENTION.length);
    const items = attentionItems(w.posts, app.health);
    const last = w.next && w.posts.length > 0 ? w.posts[w.posts.length - 1] : null;
    if (!last) return items;
    const cutoff = Math.min(...postItems([last]).map((item) => rank(item.kind)));
    return items.filter((item) => item.kind === 'system' || item.kind === 'paused' || rank(item.kind) <= cutoff);
  }

  // How many things there are to act on, over every post.
  function attentionCount() {
    return systemItems(app.health).length + (app.summary ? Number(app.summary.attention) || 0 : 0);
  }

  function systemItems(health) {
    const items = [];
    if (health) {
      if (health.fetch_error) {
        items.push({ kind: 'system', key: 'fetch', title: t('attn.fetch.title'), reasons: [str(health.fetch_error)], todo: [t('attn.fetch.todo')] });
      }
      const held = health.config_held;
      if (held && typeof held === 'object') {
        const short = (c) => str(c).slice(0, 8);
        items.push({
          kind: 'system', key: 'config', title: t('attn.config.title'),
          reasons: [t('attn.config.pushed', { commit: short(held.commit), who: str(held.pushed_by) }), str(held.reason), ...list(held.changes).map(str)],
          todo: [t('attn.config.todo', { commit: short(held.in_force) })],
        });
      }
      if (health.sync_error) {
        items.push({ kind: 'system', key: 'sync', title: t('attn.sync.title'), reasons: [str(health.sync_error)], todo: [t('attn.sync.todo')] });
      }
      const notPosts = list(health.sync_problems);
      if (notPosts.length > 0) {
        items.push({
          kind: 'system', key: 'notpost', title: t('attn.notpost.title', { count: notPosts.length }),
          reasons: notPosts.map(problemText), todo: [t('attn.notpost.todo')],
        });
      }
      for (const p of list(health.paused_networks)) {
        if (!p || typeof p !== 'object') continue;
        items.push({
          kind: 'paused', key: `paused:${str(p.network)}`, title: t('attn.paused.title', { network: str(p.network) }),
          reasons: [str(p.reason)],
          todo: tNodes('attn.paused.todo', { network: str(p.network), time: timeEl(p.next_try_at, 'datetime') }),
        });
      }
    }
    return items;
  }

  function postItems(posts) {
    const rank = (state) => {
      const i = ATTENTION.indexOf(state);
      return i < 0 ? ATTENTION.length : i;
    };
    const out = [];
    for (const post of list(posts)) {
      if (list(post.errors).length > 0) {
        out.push({ kind: 'invalid', post, key: `post:${str(post.id)}:errors`, reasons: list(post.errors).map(problemText), networks: [], todo: [t('attn.invalid.todo')] });
      }
      // Deliveries in the same state for the same reason are one item.
      const groups = new Map();
      for (const d of list(post.deliveries)) {
        if (!ATTENTION.includes(d.state)) continue;
        const key = `${d.state}\u0000${str(d.last_error)}`;
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(d);
      }
      for (const ds of groups.values()) {
        const state = ds[0].state;
        out.push({
          kind: state, post, key: `post:${str(post.id)}:${state}:${ds.map((d) => str(d.network)).join(',')}`,
          networks: ds.map((d) => str(d.network)), reasons: ds[0].last_error ? [factsText(ds[0].last_error_facts, ds[0].last_error)] : [],
          todo: todoFor(state, post, ds),
        });
      }
      if (post.edited_after_publish) {
        const sent = list(post.deliveries).filter((d) => d.state === 'published').map((d) => str(d.network));
        out.push({ kind: 'edited', post, key: `post:${str(post.id)}:edited`, networks: sent, reasons: [t('attn.edited.reason')], todo: [t('attn.edited.todo')] });
      }
    }
    out.sort((a, b) => rank(a.kind) - rank(b.kind) || byWhen(a.post, b.post));
    return out;
  }

  function todoFor(state, post, deliveries) {
    const network = str(deliveries[0].network);
    switch (state) {
      case 'invalid':
        return [t('attn.invalid.todo')];
      case 'held': {
        const account = accountInfo(post.account);
        const approval = account && account.approval;
        if (approval && approval.mode === 'merge' && list(approval.approvers).length > 0) {
          return [t('attn.held.todo.merge', { approvers: list(approval.approvers).map(str).join(t('list.sep')) })];
        }
        return [t('attn.held.todo.branch')];
      }
      case 'unknown': {
        const base = `oshirase resolve ${shellWord(post.id)} ${shellWord(network)}`;
        return tNodes('attn.unknown.todo', {
          network,
          published: code(`${base} --published URL`),
          notpublished: code(`${base} --not-published`),
        });
      }
      case 'failed':
        return [t('attn.failed.todo')];
      case 'missed':
        return [t('attn.missed.todo', { lateness: duration(app.info && app.info.max_lateness_secs) })];
      default:
        return [];
    }
  }

  // The window's timeline entries that are certain: with more to read, none after the last
  // post read, as an unread post may come before them.
  function upcomingShown(w) {
    const entries = upcomingEntries(w.posts);
    const last = w.next && w.posts.length > 0 ? w.posts[w.posts.length - 1] : null;
    if (!last) return entries;
    const cutoff = Math.min(...upcomingEntries([last]).map((e) => e.at));
    return entries.filter((e) => e.at <= cutoff);
  }

  // Scheduled work, one entry per post and due minute, soonest first.
  function upcomingEntries(posts) {
    const entries = [];
    for (const post of list(posts)) {
      const byDue = new Map();
      for (const d of list(post.deliveries)) {
        if (!UPCOMING.includes(d.state)) continue;
        const at = ms(d.due_at);
        if (Number.isNaN(at)) continue;
        const minute = Math.floor(at / 60000);
        if (!byDue.has(minute)) byDue.set(minute, { post, at, deliveries: [] });
        byDue.get(minute).deliveries.push(d);
      }
      entries.push(...byDue.values());
    }
    entries.sort((a, b) => a.at - b.at || (str(a.post.id) < str(b.post.id) ? -1 : 1));
    return entries;
  }

  // Published deliveries, newest first.
  function publishedDeliveries(posts) {
    const out = [];
    for (const post of list(posts)) {
      for (const d of list(post.deliveries)) {
        if (d.state === 'published') out.push({ post, delivery: d, at: ms(d.published_at) });
      }
    }
    out.sort((a, b) => (Number.isNaN(b.at) ? 0 : b.at) - (Number.isNaN(a.at) ? 0 : a.at));
    return out;
  }

  // Networks in the configured order, then any that only old deliveries name.
  function publishedNetworks() {
    const names = [];
    for (const a of list(app.info && app.info.accounts)) {
      for (const n of list(a && a.networks)) if (n && !names.includes(n.name)) names.push(n.name);
    }
    const counts = app.summary && app.summary.published && typeof app.summary.published === 'object' ? app.summary.published : {};
    for (const name of Object.keys(counts)) if (!names.includes(name)) names.push(name);
    return names.filter((name) => Number(counts[name]) > 0);
  }

  // A window still loading, or the error that stopped it.
  function pending(...windows) {
    const failed = windows.find((w) => !w || (!w.loaded && w.error));
    if (windows.every((w) => w && w.loaded)) return null;
    return [loadingOr(failed ? failed.error : null)];
  }

  // "Show more" under a list that has another page.
  function moreButton(w) {
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
        app.version++; // the button comes back, enabled
        render(false);
      });
    });
    return el('p', { className: 'more' }, button);
  }

  // ================================================================ shared pieces

  function messageBox(text, className = 'empty') {
    return el('p', { className }, text);
  }

  function loadingOr(error) {
    return error ? messageBox(t('load.failed', { error }), 'error-text') : messageBox(t('loading'));
  }

  // A table in a box that scrolls sideways on narrow screens; the box is focusable so
  // keyboard users can scroll it, and named after the table.
  function dataTable(caption, headers, rows, className = '') {
    const table = el('table', { className: `data ${className}`.trim() },
      el('caption', { className: 'visually-hidden', text: caption }),
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { attrs: { scope: 'col' }, text: h })))),
      el('tbody', {}, rows));
    return el('div', { className: 'table-wrap', attrs: { tabindex: '0', role: 'region', 'aria-label': caption } }, table);
  }

  function attentionList(items, level) {
    if (items.length === 0) {
      return el('p', { className: 'all-clear' }, el('span', { className: 'badge-icon', attrs: { 'aria-hidden': 'true' }, text: '✓' }), ' ', t('attention.none'));
    }
    return el('ul', { className: 'attention-list' }, items.map((item) => attentionItem(item, level)));
  }

  function attentionItem(item, level) {
    const post = item.post;
    const title = post ? postLink(post) : item.title;
    const state = item.kind === 'system' ? 'problem' : item.kind;
    const meta = [];
    if (post) {
      if (item.networks.length > 0) meta.push(el('span', {}, t('attention.networks', { networks: item.networks.join(t('list.sep')) })));
      if (post.department) meta.push(el('span', { text: str(post.department) }));
      if (post.publish_at) meta.push(el('span', {}, tNodes('attention.due', { time: timeEl(post.publish_at) })));
    }
    return el('li', { className: 'attention-item', attrs: { 'data-kind': item.kind, 'data-post-id': post ? str(post.id) : null } },
      heading(level, { className: 'attention-title' }, badge(state), ' ', title),
      meta.length > 0 ? el('p', { className: 'attention-meta' }, meta.flatMap((m, i) => (i === 0 ? [m] : [' · ', m]))) : null,
      item.reasons.length > 0 ? el('div', { className: 'attention-reason' },
        el('p', { className: 'label', text: t('attention.reason') }),
        item.reasons.length === 1 ? el('p', { className: 'reason-text', text: item.reasons[0] })
          : el('ul', {}, item.reasons.map((r) => el('li', { className: 'reason-text', text: r })))) : null,
      item.todo.length > 0 ? el('div', { className: 'attention-todo' },
        el('p', { className: 'label', text: t('attention.todo') }),
        el('p', {}, item.todo)) : null);
  }

  function timeline(entries, level) {
    if (entries.length === 0) return messageBox(t('upcoming.none'));
    const days = new Map();
    for (const e of entries) {
      const day = dayKey(e.at);
      if (!days.has(day)) days.set(day, new Map());
      const hour = zoneParts(e.at).hour;
      const hours = days.get(day);
      if (!hours.has(hour)) hours.set(hour, []);
      hours.get(hour).push(e);
    }
    const out = [];
    for (const [day, hours] of days) {
      const first = hours.values().next().value[0];
      const count = [...hours.values()].reduce((n, es) => n + es.length, 0);
      const section = el('section', { className: 'day', attrs: { 'data-day': day } },
        heading(level, { className: 'day-title' }, formatTime(first.at, 'day'), ' ', el('span', { className: 'count', text: t('upcoming.count', { n: count }) })));
      for (const [hour, es] of hours) {
        const hh = String(hour).padStart(2, '0');
        section.append(el('div', { className: 'hour' },
          heading(level + 1, { className: 'hour-title' }, t('upcoming.hour', { hour: hh })),
          el('ol', { className: 'slots' }, es.map(slot))));
      }
      out.push(section);
    }
    return el('div', { className: 'timeline' }, out);
  }

  function slot(entry) {
    const post = entry.post;
    return el('li', { className: 'slot', attrs: { 'data-post-id': str(post.id), 'data-state': str(entry.deliveries[0].state) } },
      el('time', { className: 'slot-time', attrs: { datetime: new Date(entry.at).toISOString() }, text: formatTime(entry.at, 'time') }),
      el('div', { className: 'slot-body' },
        el('p', { className: 'slot-title' }, postLink(post)),
        el('p', { className: 'slot-meta' },
          post.department ? el('span', { className: 'department', text: str(post.department) }) : null,
          post.account ? el('span', { className: 'account', text: str(post.account) }) : null),
        networkBadges(entry.deliveries)));
  }

  // "✓ x": a network the post went to, linked to it there when the address is http(s).
  function chip(delivery) {
    const href = safeUrl(delivery.remote_url);
    const parts = [el('span', { attrs: { 'aria-hidden': 'true' }, text: '✓ ' }), str(delivery.network)];
    return href
      ? el('a', { className: 'chip', attrs: { href, rel: 'noopener noreferrer', target: '_blank' } }, parts)
      : el('span', { className: 'chip' }, parts);
  }

  function remoteLink(delivery) {
    const href = safeUrl(delivery.remote_url);
    if (href) return externalLink(href, href);
    if (delivery.remote_id) return code(str(delivery.remote_id));
    return el('span', { className: 'muted', text: t('nolink') });
  }

  function postsTable(posts, caption) {
    const rows = posts.map((post) => el('tr', { attrs: { 'data-post-id': str(post.id), 'data-state': str(post.state) } },
      el('td', { className: 'when' }, timeEl(post.publish_at, 'datetime', t('asap'))),
      el('th', { attrs: { scope: 'row' } }, postLink(post), el('span', { className: 'file', text: str(post.file) })),
      el('td', { text: str(post.department) || t('none') }),
      el('td', { text: str(post.account) || t('none') }),
      el('td', {}, badge(post.state)),
      el('td', {}, networkBadges(post.deliveries))));
    return dataTable(caption, [t('col.time'), t('col.title'), t('col.department'), t('col.account'), t('col.state'), t('col.networks')], rows, 'posts');
  }

  // ================================================================ views

  const VIEWS = {
    overview: { title: () => t('overview.title'), head: () => [], body: () => [zoneNote(), ...overviewBody()] },
    attention: { title: () => t('attention.title'), head: () => [], body: attentionBody },
    upcoming: { title: () => t('upcoming.title'), head: () => [], body: () => [zoneNote(), ...upcomingBody()] },
    published: { title: () => t('published.title'), head: () => [], body: () => [zoneNote(), ...publishedBody()] },
    posts: { title: () => t('posts.title'), head: searchForm, body: searchBody },
    post: { title: () => (app.detail.post ? titleOf(app.detail.post) : t('post.eyebrow')), head: () => [], body: postBody },
  };

  function dryRunNote() {
    return app.info && app.info.dry_run ? el('p', { className: 'notice' }, t('dryrun')) : null;
  }

  function overviewBody() {
    const [att, up, pub] = [windowOf('attention'), windowOf('upcoming'), windowOf('published')];
    const waiting = pending(att, up, pub);
    if (waiting) return waiting;
    const summary = app.summary || {};
    const attention = attentionShown(att);
    const total = attentionCount();
    const upcoming = upcomingShown(up);
    const tile = (key, n, href, state) => el('li', { className: `tile${n > 0 && state ? ` tile-${state}` : ''}` },
      el('a', { attrs: { href, 'data-key': `tile:${key}` } },
        el('span', { className: 'tile-number', text: String(n) }),
        el('span', { className: 'tile-label', text: t(key) })));
    // One row per post, newest first, with every network it went to.
    const recent = pub.posts.slice(0, OVERVIEW_RECENT).map((post) => {
      const sent = publishedDeliveries([post]);
      return el('tr', { attrs: { 'data-post-id': str(post.id) } },
        el('td', { className: 'when' }, timeEl(sent.length > 0 ? sent[0].delivery.published_at : null)),
        el('th', { attrs: { scope: 'row' } }, postLink(post)),
        el('td', { text: str(post.department) || t('none') }),
        el('td', {}, el('ul', { className: 'network-list' }, sent.map(({ delivery }) => el('li', { attrs: { 'data-network': str(delivery.network) } },
          chip(delivery))))));
    });
    const count = (n) => Number(n) || 0;
    return [
      dryRunNote(),
      el('section', { className: 'summary', attrs: { 'aria-labelledby': 'summary-title' } },
        heading(2, { className: 'visually-hidden', attrs: { id: 'summary-title' }, text: t('overview.summary') }),
        el('ul', { className: 'tiles' },
          tile('tile.attention', total, '#/attention', 'alert'),
          tile('tile.upcoming', count(summary.upcoming_24h), '#/upcoming'),
          tile('tile.published', count(summary.published_today), '#/published'),
          tile('tile.paused', list(app.health && app.health.paused_networks).length, '#/attention', 'alert'))),
      el('section', { className: 'panel', attrs: { 'aria-labelledby': 'ov-attention' } },
        heading(2, { attrs: { id: 'ov-attention' } }, t('attention.title'), ' ', el('span', { className: 'count', text: t('nav.count', { n: total }) })),
        attentionList(attention, 3),
        att.next ? el('p', { className: 'more' }, el('a', { attrs: { href: '#/attention' }, text: t('overview.attention.more', { n: total }) })) : null),
      el('section', { className: 'panel', attrs: { 'aria-labelledby': 'ov-upcoming' } },
        heading(2, { attrs: { id: 'ov-upcoming' } }, t('overview.upcoming')),
        timeline(upcoming.slice(0, OVERVIEW_UPCOMING), 3),
        up.total > OVERVIEW_UPCOMING || upcoming.length > OVERVIEW_UPCOMING
          ? el('p', { className: 'more' }, el('a', { attrs: { href: '#/upcoming' }, text: t('overview.upcoming.more', { n: up.total }) })) : null),
      el('section', { className: 'panel', attrs: { 'aria-labelledby': 'ov-recent' } },
        heading(2, { attrs: { id: 'ov-recent' } }, t('overview.recent')),
        recent.length > 0
          ? dataTable(t('overview.recent'), [t('col.published'), t('col.title'), t('col.department'), t('col.networks')], recent)
          : messageBox(t('published.none')),
        recent.length > 0 ? el('p', { className: 'more' }, el('a', { attrs: { href: '#/published' }, text: t('overview.recent.more') })) : null),
    ];
  }

  function attentionBody() {
    const w = windowOf('attention');
    return pending(w) || [dryRunNote(), attentionList(attentionShown(w), 2), moreButton(w)];
  }

  function upcomingBody() {
    const w = windowOf('upcoming');
    const waiting = pending(w);
    if (waiting) return waiting;
    return [timeline(upcomingShown(w), 2), moreButton(w)];
  }

  function publishedBody() {
    if (!app.summary) return [loadingOr(app.summaryError)];
    const names = publishedNetworks();
    if (names.length === 0) return [messageBox(t('published.none'))];
    const windows = names.map((name) => windowOf('published', new URLSearchParams({ network: name }).toString()));
    const waiting = pending(...windows);
    if (waiting) return waiting;
    const out = [];
    for (const [i, name] of names.entries()) {
      const id = `net-${out.length}`;
      const rows = windows[i].posts.flatMap((post) => list(post.deliveries)
        .filter((d) => d.state === 'published' && d.network === name)
        .map((delivery) => ({ post, delivery })));
      const total = Number(app.summary.published[name]) || rows.length;
      const type = rows.length > 0 ? networkType(rows[0].post.account, name) : null;
      out.push(el('section', { className: 'panel', attrs: { 'aria-labelledby': id, 'data-network': str(name) } },
        heading(2, { attrs: { id } }, type ? t('published.network', { network: str(name), type }) : str(name), ' ',
          el('span', { className: 'count', text: t('published.count', { n: total }) })),
        total > rows.length ? el('p', { className: 'muted', text: t('published.limited', { shown: rows.length, n: total }) }) : null,
          dataTable(t('published.caption', { network: str(name) }), [t('col.published'), t('col.title'), t('col.department'), t('col.link')],
            rows.map(({ post, delivery }) => el('tr', { attrs: { 'data-post-id': str(post.id) } },
              el('td', { className: 'when' }, timeEl(delivery.published_at)),
              el('th', { attrs: { scope: 'row' } }, postLink(post)),
              el('td', { text: str(post.department) || t('none') }),
              el('td', {}, remoteLink(delivery)))))));
    }
    return out;
  }

  // ---------------------------------------------------------------- search

  function options(values, current) {
    return [el('option', { attrs: { value: '' }, text: t('posts.any') }),
      ...values.map(([value, label]) => el('option', { attrs: { value, selected: value === current ? 'selected' : null }, text: label }))];
  }

  function uniqueSorted(values) {
    return [...new Set(values.filter((v) => typeof v === 'string' && v !== ''))].sort((a, b) => a.localeCompare(b, LOCALES[app.lang]));
  }

  // What the search form's lists offer: the configuration's names and every name a post
  // uses (from /api/summary), each as [value, label].
  function searchChoices() {
    const accounts = list(app.info && app.info.accounts);
    const summary = app.summary || {};
    const pairs = (values) => values.map((v) => [v, v]);
    return {
      department: pairs(uniqueSorted(list(summary.departments))),
      account: pairs(uniqueSorted([...accounts.map((a) => a && a.name), ...list(summary.accounts)])),
      network: pairs(uniqueSorted([...accounts.flatMap((a) => list(a && a.networks).map((n) => n && n.name)), ...list(summary.networks)])),
      state: STATES.map((s) => [s, stateName(s)]),
    };
  }

  // The lists fill in as the counts arrive, without rebuilding the form someone types in.
  function syncSearchChoices() {
    const choices = searchChoices();
    for (const [name, values] of Object.entries(choices)) {
      const select = $(`f-${name}`);
      if (!select) continue;
      const now = [...select.options].map((o) => o.value).join('\u0000');
      if (now === ['', ...values.map(([v]) => v)].join('\u0000')) continue;
      const value = select.value;
      select.replaceChildren(...options(values, value));
      select.value = value;
    }
  }

  function searchForm() {
    const p = app.route.params;
    const choices = searchChoices();
    const field = (name, label, control, hint) => el('div', { className: `field field-${name}` },
      el('label', { attrs: { for: `f-${name}` }, text: label }), control,
      hint ? el('p', { className: 'hint', attrs: { id: `f-${name}-hint` }, text: hint }) : null);
    const select = (name, values) => el('select', { attrs: { id: `f-${name}`, name } }, options(values, p.get(name) || ''));
    const form = el('form', { className: 'search', attrs: { role: 'search', 'aria-label': t('posts.form'), id: 'search-form' } },
      el('div', { className: 'fields' },
        field('q', t('posts.q'), el('input', { attrs: { id: 'f-q', name: 'q', type: 'search', value: p.get('q') || '', 'aria-describedby': 'f-q-hint', autocomplete: 'off' } }), t('posts.q.hint')),
        field('department', t('posts.department'), select('department', choices.department)),
        field('account', t('posts.account'), select('account', choices.account)),
        field('network', t('posts.network'), select('network', choices.network)),
        field('state', t('posts.state'), select('state', choices.state)),
        field('from', t('posts.from'), el('input', { attrs: { id: 'f-from', name: 'from', type: 'date', value: p.get('from') || '' } })),
        field('to', t('posts.to'), el('input', { attrs: { id: 'f-to', name: 'to', type: 'date', value: p.get('to') || '' } })),
        el('div', { className: 'actions' },
          el('button', { className: 'primary', attrs: { type: 'submit' }, text: t('posts.submit') }),
          el('button', { className: 'secondary', attrs: { type: 'reset' }, text: t('posts.clear') }))));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      for (const [key, value] of new FormData(form)) {
        if (typeof value === 'string' && value.trim() !== '') params.set(key, value.trim());
      }
      app.focusResults = true;
      const hash = params.toString() ? `#/posts?${params}` : '#/posts';
      if (location.hash === hash) route(); else location.hash = hash;
    });
    form.addEventListener('reset', (event) => {
      event.preventDefault();
      for (const control of form.elements) if ('value' in control && control.tagName !== 'BUTTON') control.value = '';
      app.focusResults = true;
      if (location.hash === '#/posts') route(); else location.hash = '#/posts';
    });
    return [form];
  }

  // Going back through searches keeps the form in step with the address.
  function syncSearchForm() {
    const form = $('search-form');
    if (!form) return;
    for (const control of form.elements) {
      if (control.name) control.value = app.route.params.get(control.name) || '';
    }
  }

  function searchBody() {
    const w = windowOf('all', searchQuery(app.route.params));
    if (w && w.error && !w.loaded) return [messageBox(t('load.failed', { error: w.error }), 'error-text')];
    if (!w || !w.loaded) return [messageBox(t('loading'))];
    return [
      heading(2, { attrs: { id: 'results-title', tabindex: '-1' } }, t('posts.results', { n: w.total })),
      w.posts.length > 0 ? postsTable(w.posts, t('posts.caption')) : messageBox(t('posts.none')),
      moreButton(w),
    ];
  }

  // ---------------------------------------------------------------- one post

  function postBody() {
    const d = app.detail;
    if (d.id !== app.route.id || (!d.post && !d.error)) return [messageBox(t('loading'))];
    if (d.notFound) return [messageBox(t('post.notfound', { id: d.id }), 'error-text')];
    if (!d.post) return [messageBox(t('load.failed', { error: d.error }), 'error-text')];
    const post = d.post;
    const attention = postItems([post]);
    return [
      el('p', { className: 'post-summary' }, badge(post.state), ' ',
        el('span', {}, timeEl(post.publish_at, 'datetime', t('asap'))),
        post.department ? [' · ', el('span', { text: str(post.department) })] : null,
        post.account ? [' · ', el('span', { text: str(post.account) })] : null),
      attention.length > 0 ? el('section', { className: 'panel panel-alert', attrs: { 'aria-labelledby': 'p-attention' } },
        heading(2, { attrs: { id: 'p-attention' } }, t('attention.title')),
        attentionList(attention, 3)) : null,
      el('section', { className: 'panel', attrs: { 'aria-labelledby': 'p-networks' } },
        heading(2, { attrs: { id: 'p-networks' } }, t('post.networks')),
        list(post.deliveries).length > 0
          ? el('div', { className: 'previews' }, list(post.deliveries).map((x, i) => preview(post, x, i)))
          : messageBox(t('post.nodeliveries'))),
      provenance(post),
      auditTrail(post),
    ];
  }

  function countLine(delivery) {
    const { length, limit } = delivery;
    if (typeof length !== 'number' || typeof limit !== 'number' || limit <= 0) {
      return el('p', { className: 'count-line muted', text: t('post.count.unknown') });
    }
    const over = length - limit;
    return el('p', { className: `count-line${over > 0 ? ' over' : ''}`, attrs: { 'data-length': length, 'data-limit': limit } },
      t('post.count', { length: length.toLocaleString(LOCALES[app.lang]), limit: limit.toLocaleString(LOCALES[app.lang]) }),
      over > 0 ? [' ', el('strong', {}, el('span', { attrs: { 'aria-hidden': 'true' }, text: '! ' }), t('post.count.over', { n: over }))] : null);
  }

  function preview(post, delivery, index) {
    const network = str(delivery.network);
    const type = networkType(post.account, network);
    const id = `pv-${index}`;
    const facts = [];
    if (delivery.published_at) facts.push(el('li', {}, tNodes('post.published', { time: timeEl(delivery.published_at, 'seconds') })));
    const href = safeUrl(delivery.remote_url);
    if (href) facts.push(el('li', {}, externalLink(href, t('post.open', { network }))));
    if (delivery.attempts > 0) facts.push(el('li', { text: t('post.attempts', { n: delivery.attempts }) }));
    if (delivery.state === 'retrying' && delivery.next_attempt_at) {
      facts.push(el('li', {}, tNodes('attn.retrying.todo', { time: timeEl(delivery.next_attempt_at, 'seconds') })));
    } else if (delivery.next_attempt_at && UPCOMING.includes(delivery.state)) {
      facts.push(el('li', {}, tNodes('post.next', { time: timeEl(delivery.next_attempt_at, 'seconds') })));
    }
    const images = list(delivery.images);
    return el('article', { className: 'preview', attrs: { 'aria-labelledby': id, 'data-network': network, 'data-state': str(delivery.state) } },
      el('header', { className: 'preview-head' },
        heading(3, { attrs: { id } }, network, type ? el('span', { className: 'network-type', text: ` (${type})` }) : null),
        badge(delivery.state)),
      countLine(delivery),
      // The exact text, line breaks and all; a pre-wrap block, never interpreted.
      el('p', { className: 'visually-hidden', text: t('post.text', { network }) }),
      el('pre', { className: 'post-text', attrs: { 'data-network': network }, text: str(delivery.text) }),
      images.length > 0 ? el('div', { className: 'images' },
        el('p', { className: 'label', text: t('post.images', { n: images.length }) }),
        el('ul', { className: 'image-list' }, images.map((img) => imageItem(img, delivery.state)))) : null,
      facts.length > 0 ? el('ul', { className: 'facts' }, facts) : null,
      delivery.last_error && !ATTENTION.includes(delivery.state) ? el('p', { className: 'last-error' },
        el('span', { className: 'label', text: `${t('post.lasterror')}: ` }), el('span', { text: factsText(delivery.last_error_facts, delivery.last_error) })) : null);
  }

  function imageItem(img, state) {
    const blob = str(img && img.blob);
    // /media serves only images that went out; before that the alt text stands in.
    const servable = /^([0-9a-f]{40}|[0-9a-f]{64})$/.test(blob) && (state === 'published' || state === 'retracted');
    const alt = str(img && img.alt);
    const size = Number(img && img.size);
    const sizeText = Number.isFinite(size) ? `${new Intl.NumberFormat(LOCALES[app.lang], { maximumFractionDigits: 1 }).format(size / 1024)} KB` : t('none');
    return el('li', { className: 'image-item' },
      servable ? el('img', { className: 'thumb', attrs: { src: `media/${blob}`, alt, loading: 'lazy' } })
        : el('div', { className: 'thumb thumb-none' }, el('span', { text: t('post.image.nothumb') })),
      el('dl', { className: 'image-facts' },
        el('dt', { text: t('post.image.alt') }), el('dd', alt ? { text: alt } : { className: 'warn-text', text: t('post.image.noalt') }),
        el('dt', { text: t('post.image.file') }), el('dd', {}, code(str(img && img.path))),
        el('dt', { text: t('post.image.size') }), el('dd', { text: `${sizeText} · ${str(img && img.mime)}` })));
  }

  function provenance(post) {
    const links = post.links && typeof post.links === 'object' ? post.links : null;
    const forge = links ? { github: 'GitHub', gitlab: 'GitLab', codeberg: 'Codeberg' }[links.forge] || str(links.forge) : '';
    const commitHref = links ? safeUrl(links.commit) : null;
    const fileHref = links ? safeUrl(links.file) : null;
    const row = (term, ...value) => [el('dt', { text: term }), el('dd', {}, value)];
    const commit = post.commit ? code(str(post.commit).slice(0, 12)) : t('none');
    return el('section', { className: 'panel', attrs: { 'aria-labelledby': 'p-provenance' } },
      heading(2, { attrs: { id: 'p-provenance' } }, t('post.provenance')),
      el('dl', { className: 'facts-grid' },
        row(t('post.proposer'), str(post.proposer) || t('none')),
        row(t('post.proposed_at'), timeEl(post.proposed_at, 'seconds')),
        row(t('post.approver'), str(post.approver) || t('none')),
        row(t('post.approved_at'), timeEl(post.approved_at, 'seconds')),
        row(t('post.commit'), commit, commitHref ? [' ', externalLink(commitHref, t('post.commit.link', { forge }))] : null),
        row(t('post.file'), code(str(post.file)), fileHref ? [' ', externalLink(fileHref, t('post.file.link', { forge }))] : null),
        row(t('post.id'), code(str(post.id))),
        row(t('post.publish_at'), timeEl(post.publish_at, 'datetime', t('asap'))),
        row(t('post.on_branch'), post.on_branch === false ? t('no') : t('yes'))));
  }

  function actorText(actor) {
    if (!actor || typeof actor !== 'object') return t('none');
    if (actor.type === 'service') return t('actor.service');
    if (actor.type === 'git') return t('actor.git', { name: str(actor.name) });
    if (actor.type === 'operator') return t('actor.operator', { name: str(actor.name) });
    return str(actor.name || actor.type);
  }

  function eventName(kind) {
    const key = `event.${str(kind)}`;
    return has(I18N.en, key) ? t(key) : str(kind);
  }

  function auditTrail(post) {
    const events = list(post.events);
    const rows = events.map((e) => el('tr', { attrs: { 'data-kind': str(e.kind) } },
      el('td', { className: 'when' }, timeEl(e.at, 'seconds')),
      el('th', { attrs: { scope: 'row' } }, eventName(e.kind), ' ', el('code', { className: 'event-kind', text: str(e.kind) })),
      el('td', { text: str(e.network) || t('none') }),
      el('td', { text: actorText(e.actor) }),
      el('td', { className: 'event-detail', text: factsText(e.facts, e.detail) })));
    return el('section', { className: 'panel', attrs: { 'aria-labelledby': 'p-audit' } },
      heading(2, { attrs: { id: 'p-audit' } }, t('post.audit')),
      rows.length > 0
        ? dataTable(t('post.audit.caption'), [t('col.at'), t('col.event'), t('col.network'), t('col.actor'), t('col.detail')], rows, 'audit')
        : messageBox(t('post.noevents')));
  }

  // ================================================================ rendering

  function renderChrome() {
    const live = $('live');
    live.setAttribute('data-live', app.live);
    const icon = { live: '●', offline: '○', connecting: '…', unsupported: '↻' }[app.live] || '•';
    live.replaceChildren(el('span', { className: 'live-icon', attrs: { 'aria-hidden': 'true' }, text: icon }), ' ', t(`live.${app.live}`));

    const sync = $('sync');
    const h = app.health;
    if (app.healthError && !h) {
      sync.replaceChildren(t('sync.unavailable'));
      sync.setAttribute('data-ok', 'false');
    } else if (h) {
      const ok = h.status === 'ok';
      sync.setAttribute('data-ok', ok ? 'true' : 'false');
      if (!ok && (h.fetch_error || h.sync_error || list(h.paused_networks).length > 0)) {
        const problem = h.fetch_error || h.sync_error ? t('sync.error') : t('sync.paused');
        sync.replaceChildren(el('span', { attrs: { 'aria-hidden': 'true' }, text: '⚠ ' }), el('a', { attrs: { href: '#/attention' }, text: problem }));
      } else if (h.last_sync_commit) {
        sync.replaceChildren(...tNodes('sync.ok', { commit: code(str(h.last_sync_commit).slice(0, 8)), time: timeEl(h.last_sync_at, 'clock') }));
      } else {
        sync.replaceChildren(t('sync.none'));
      }
    }

    const count = attentionCount();
    const badgeEl = $('nav-attention-count');
    badgeEl.textContent = count > 0 ? t('nav.count', { n: count }) : '';
    badgeEl.hidden = count === 0;
    for (const a of document.querySelectorAll('#site-nav a[data-route]')) {
      const current = a.getAttribute('data-route') === (app.route.name === 'post' ? '' : app.route.name);
      if (current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }

    const updated = $('updated');
    if (app.updatedAt) {
      updated.textContent = app.refreshFailed
        ? t('updated.failed', { time: formatTime(app.updatedAt, 'clock') })
        : t('updated', { time: formatTime(app.updatedAt, 'clock') });
      updated.classList.toggle('error-text', app.refreshFailed);
    }
  }

  function routeKey() {
    return `${app.route.name}|${app.route.id}`;
  }

  // The view's heading and any controls: rebuilt on navigation and language change only,
  // so a refresh never takes away what someone is typing.
  function renderHead() {
    const view = VIEWS[app.route.name];
    const title = view.title();
    const h1 = el('h1', { attrs: { id: 'view-title', tabindex: '-1' }, text: title });
    const eyebrow = app.route.name === 'post' ? el('p', { className: 'eyebrow', text: t('post.eyebrow') }) : null;
    $('view-head').replaceChildren(eyebrow || '', h1, ...view.head().filter(Boolean));
    app.rendered.head = `${routeKey()}|${app.lang}`;
  }

  function focusKeyInBody() {
    const active = document.activeElement;
    if (!active || !$('view-body').contains(active)) return null;
    const keyed = active.closest('[data-key]');
    return keyed ? keyed.getAttribute('data-key') : (active.id ? `#${active.id}` : null);
  }

  function restoreFocus(key) {
    if (!key) return;
    let target = null;
    if (key.startsWith('#')) target = $(key.slice(1));
    else {
      for (const node of $('view-body').querySelectorAll('[data-key]')) {
        if (node.getAttribute('data-key') === key) { target = node; break; }
      }
    }
    if (target) target.focus({ preventScroll: true });
  }

  function render(navigated) {
    if (!VIEWS[app.route.name]) app.route = { name: 'overview', id: null, params: new URLSearchParams() };
    renderChrome();
    const headKey = `${routeKey()}|${app.lang}`;
    if (navigated || app.rendered.head !== headKey) renderHead();
    // The post's title is data: keep the heading in step without rebuilding it.
    const title = VIEWS[app.route.name].title();
    if ($('view-title').textContent !== title) $('view-title').textContent = title;
    document.title = `${title} — oshirase`;

    const bodyKey = `${headKey}|${app.route.params}|${app.version}`;
    if (navigated || app.rendered.body !== bodyKey) {
      const focus = focusKeyInBody();
      $('view-body').replaceChildren(...VIEWS[app.route.name].body().flat().filter(Boolean));
      app.rendered.body = bodyKey;
      restoreFocus(focus);
    }
    if (app.route.name === 'posts') syncSearchChoices();
    if (app.focusResults && app.route.name === 'posts' && $('results-title')) {
      app.focusResults = false;
      $('results-title').focus();
    }
  }

  // ================================================================ routing

  function parseRoute() {
    const hash = location.hash.replace(/^#\/?/, '');
    const [path, query] = hash.split('?', 2);
    const params = new URLSearchParams(query || '');
    if (path.startsWith('post/')) {
      let id = null;
      try {
        id = decodeURIComponent(path.slice('post/'.length));
      } catch {
        id = path.slice('post/'.length);
      }
      return { name: 'post', id, params };
    }
    const name = ['attention', 'upcoming', 'published', 'posts'].includes(path) ? path : 'overview';
    return { name, id: null, params };
  }

  function route() {
    const before = app.route;
    app.route = parseRoute();
    const sameView = before.name === app.route.name && before.id === app.route.id;
    if (app.route.name === 'post' && app.detail.id !== app.route.id) app.detail = { id: app.route.id, post: null, error: null, notFound: false };
    if (sameView && app.route.name === 'posts') {
      syncSearchForm();
      render(false);
    } else {
      render(true);
      // Keyboard and screen-reader users land on what they opened.
      if (before !== null && !app.starting) $('view-title').focus();
      window.scrollTo(0, 0);
    }
    // What the route shows, read for it (the lists of other routes are not kept).
    refresh();
  }

  // ================================================================ live updates

  // The live region says what changed, once, in a sentence; never the whole list.
  let announceTimer = null;
  function announce(message) {
    const region = $('announcer');
    clearTimeout(announceTimer);
    region.textContent = '';
    // Clearing first makes screen readers read a message equal to the previous one again.
    announceTimer = setTimeout(() => { region.textContent = message; }, 100);
  }

  // `posts` are the posts the events named, `before` what was known of them.
  function announceChanges(before, posts, events) {
    const landed = new Set(events.filter((e) => e.kind === 'landed').map((e) => str(e.post_id)));
    // For a post not seen before, only what the events name changed just now.
    const touched = new Set(events.map((e) => `${str(e.post_id)}\u0000${str(e.network)}`));
    const messages = [];
    for (const p of posts) {
      const id = str(p.id);
      const was = before.get(id);
      if (!was && landed.has(id)) {
        messages.push(t('announce.new', { title: titleOf(p), state: stateName(p.state) }));
        continue;
      }
      for (const d of list(p.deliveries)) {
        const changed = was ? was.get(str(d.network)) !== d.state : touched.has(`${id}\u0000${str(d.network)}`);
        if (changed && ANNOUNCED.has(d.state)) {
          messages.push(t('announce.delivery', { title: titleOf(p), network: str(d.network), state: stateName(d.state) }));
        }
      }
    }
    remember(posts);
    if (messages.length === 0) return;
    announce(messages.length > 3 ? t('announce.many', { n: messages.length }) : messages.join(' '));
  }

  function setLive(state) {
    const was = app.live;
    app.live = state;
    renderChrome();
    if (was === 'live' && state === 'offline') announce(t('announce.offline'));
    if (was === 'offline' && state === 'live') announce(t('announce.live'));
  }

  // One update per burst: the first event starts the timer and later ones ride along. An
  // event names its post; one that names none, or the server saying this dashboard fell
  // behind and missed some, reads everything shown again.
  function onServerEvent(message) {
    let event = null;
    try {
      event = JSON.parse(message.data);
    } catch {
      event = null;
    }
    if (event && typeof event === 'object' && !event.resync && typeof event.post_id === 'string' && event.post_id !== '') {
      app.pendingIds.add(event.post_id);
      app.pendingEvents.push(event);
    } else {
      app.needFull = true;
    }
    if (app.eventTimer !== null) return;
    app.eventTimer = setTimeout(() => {
      app.eventTimer = null;
      work();
    }, EVENT_DELAY_MS);
  }

  function connectEvents() {
    if (typeof EventSource === 'undefined') {
      setLive('unsupported');
      return;
    }
    const source = new EventSource('api/events');
    source.addEventListener('open', () => {
      const wasDown = app.live === 'offline';
      setLive('live');
      if (wasDown) refresh(); // catch up on what happened while the stream was down
    });
    source.addEventListener('message', onServerEvent);
    source.addEventListener('error', () => {
      setLive('offline');
      if (source.readyState === EventSource.CLOSED) setTimeout(connectEvents, RECONNECT_MS);
    });
  }

  // ================================================================ start

  function start() {
    app.starting = true;
    setLang(initialLang(), false);
    $('lang-select').addEventListener('change', (event) => {
      setLang(event.target.value, true);
      render(true);
    });
    window.addEventListener('hashchange', route);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) refresh();
    });
    // Only while the event stream is down; it says when anything changes otherwise.
    setInterval(() => {
      if (!document.hidden && app.live !== 'live') refresh();
    }, POLL_MS);
    route(); // and reads what it shows
    app.starting = false;
    renderChrome();
    connectEvents();
  }

  start();
})();
