// Japanese by default, English on request; every time in Japan Standard Time.

const strings = {
  ja: {
    appName: 'つなぐ', skip: '本文へ移動', loading: '読み込み中…', language: 'English', languageLabel: 'Switch to English',
    navTimelines: 'タイムライン', navAccount: 'アカウント', navAdmin: '組織の管理', logout: 'ログアウト',
    loginTitle: 'ログイン', email: 'メールアドレス', password: 'パスワード', loginButton: 'ログイン',
    loginFailed: 'メールアドレスまたはパスワードが違います。',
    loginLocked: 'ログインの失敗が続いたため一時的にロックされています。',
    certRequired: 'この組織ではクライアント証明書が必要です。端末に登録済みの証明書を入れ、ブラウザがそれを提示できる接続 (https) で開き直してください。証明書がない場合は組織の管理者に連絡してください。',
    loggedOutRevoked: 'セッションが終了しました (ログアウトまたはアカウントの無効化)。もう一度ログインしてください。',
    forgot: 'パスワードを忘れた・初めて設定する', sendLink: 'リンクを送る', linkSent: '登録されているアドレスであれば、設定用のリンクをメールで送りました。',
    activateTitle: 'アカウントの有効化', activateIntro: '招待メールのリンクから開きました。表示名とパスワードを決めてください。',
    name: '表示名', newPassword: '新しいパスワード', confirmPassword: 'パスワード (確認)', activateButton: '有効化する',
    policy: 'パスワードの条件: 10 文字以上 (組織が長さや文字の種類を追加で求めることがあります)。よく使われるパスワードやご自分のメールアドレスは使えません。',
    mismatch: '確認用のパスワードが一致しません。', noToken: 'リンクにトークンがありません。メールのリンクをそのまま開いてください。',
    linkUnknown: 'このリンクは無効です。', linkUsed: 'このリンクはすでに使われています。ログインしてください。',
    activated: '有効化しました。ログインしてください。', refused: '受け付けられませんでした: ',
    timelinesTitle: 'タイムライン', unread: '未読', noTimelines: '参加しているタイムラインはまだありません。',
    noEvents: 'まだ投稿はありません。', newTimeline: '新しいタイムライン', title: 'タイトル', kind: '種類',
    patient: '患者', group: 'グループ', create: '作成',
    members: 'メンバー', addMember: 'メンバーを追加', role: '役割', add: '追加',
    composer: 'メッセージ', send: '送信', sendHint: 'Ctrl+Enter (⌘+Enter) でも送信できます。',
    sending: '送信中…', ack: '確認', acked: '確認済み', read: '既読', viewerNote: '閲覧のみの役割です。',
    callStart: '通話開始', callEnd: '通話終了', startCall: '通話の開始を記録', endCall: '通話の終了を記録', joined: 'が参加しました', left: 'が退出しました',
    offline: '接続が切れました。再接続しています…', online: '再接続しました。',
    back: '← 一覧へ', history: '以前の記録を読み込む',
    accountTitle: 'アカウント', org: '組織', orgRole: '組織での役割', profession: '職種',
    passwordTitle: 'パスワードの変更', passwordHelp: '設定用のリンクを登録メールアドレスに送ります (30 分有効、1 回限り)。',
    certTitle: 'クライアント証明書', certHelp: 'この接続で提示している証明書を二要素目として登録します (TLS とクライアント証明書が必要です)。',
    certButton: 'この証明書を登録', certDone: '登録しました: ',
    sessionsTitle: 'セッション', sessionsNote: 'ログイン中のセッション一覧を返す API はまだありません。ログアウトするとこの端末のセッションが終了します。',
    adminTitle: '組織の管理', invite: 'メンバーを招待', inviteButton: '招待メールを送る', invited: '招待しました: ',
    status: '状態', disable: '無効にする', enable: '有効にする', save: '保存',
    statusInvited: '招待中', statusActive: '有効', statusDisabled: '無効',
    roleAdmin: '管理者', roleMember: 'メンバー', roleOwner: 'オーナー', roleViewer: '閲覧のみ',
    policyTitle: 'セキュリティポリシー', minLength: 'パスワードの最小文字数', minClasses: '必要な文字の種類 (1–4)',
    requireCert: 'クライアント証明書を必須にする', saved: '保存しました。',
    auditTitle: '監査ログ', from: '開始', to: '終了', action: '操作', show: '表示', exportJSON: 'JSON で書き出す', exportCSV: 'CSV で書き出す',
    time: '日時', actor: '実行者', target: '対象', source: '接続元',
    pending: '招待中のメンバー', none: 'ありません。', forbidden: 'この操作の権限がありません。', error: 'エラーが発生しました: ',
  },
  en: {
    appName: 'Tsunagu', skip: 'Skip to content', loading: 'Loading…', language: '日本語', languageLabel: '日本語に切り替え',
    navTimelines: 'Timelines', navAccount: 'Account', navAdmin: 'Organization', logout: 'Log out',
    loginTitle: 'Log in', email: 'E-mail address', password: 'Password', loginButton: 'Log in',
    loginFailed: 'Wrong e-mail address or password.',
    loginLocked: 'Too many failed logins: locked for a while.',
    certRequired: 'Your organization requires a client certificate. Install your registered certificate on this device and open the hub over https so the browser can present it; without one, ask your organization admin.',
    loggedOutRevoked: 'Your session ended (logout or the account was disabled). Please log in again.',
    forgot: 'Forgot your password / setting it for the first time', sendLink: 'Send a link', linkSent: 'If the address is registered, a link to set the password is on its way.',
    activateTitle: 'Activate your account', activateIntro: 'You opened the link of your invitation. Choose a display name and a password.',
    name: 'Display name', newPassword: 'New password', confirmPassword: 'Password (again)', activateButton: 'Activate',
    policy: 'Password rules: at least 10 characters (your organization may ask for more length or kinds of characters). Common passwords and your own e-mail address are refused.',
    mismatch: 'The two passwords differ.', noToken: 'The link has no token. Open the link from the mail as it is.',
    linkUnknown: 'This link is not valid.', linkUsed: 'This link was already used. Please log in.',
    activated: 'Activated. Please log in.', refused: 'Not accepted: ',
    timelinesTitle: 'Timelines', unread: 'unread', noTimelines: 'You are not in any timeline yet.',
    noEvents: 'Nothing posted yet.', newTimeline: 'New timeline', title: 'Title', kind: 'Kind',
    patient: 'Patient', group: 'Group', create: 'Create',
    members: 'Members', addMember: 'Add a member', role: 'Role', add: 'Add',
    composer: 'Message', send: 'Send', sendHint: 'Ctrl+Enter (⌘+Enter) sends too.',
    sending: 'Sending…', ack: 'Ack', acked: 'Acked', read: 'Read', viewerNote: 'Your role is read-only.',
    callStart: 'Call started', callEnd: 'Call ended', startCall: 'Log a call start', endCall: 'Log the call end', joined: ' joined', left: ' left',
    offline: 'Connection lost. Reconnecting…', online: 'Reconnected.',
    back: '← All timelines', history: 'Load earlier entries',
    accountTitle: 'Account', org: 'Organization', orgRole: 'Role in the organization', profession: 'Profession',
    passwordTitle: 'Change password', passwordHelp: 'We mail a link to your address that sets a new password (valid 30 minutes, once).',
    certTitle: 'Client certificate', certHelp: 'Registers the certificate this connection presents as your second factor (needs TLS with client certificates).',
    certButton: 'Register this certificate', certDone: 'Registered: ',
    sessionsTitle: 'Sessions', sessionsNote: 'The API does not list sessions yet. Logging out ends this device\'s session.',
    adminTitle: 'Organization', invite: 'Invite a member', inviteButton: 'Send the invitation', invited: 'Invited: ',
    status: 'Status', disable: 'Disable', enable: 'Enable', save: 'Save',
    statusInvited: 'Invited', statusActive: 'Active', statusDisabled: 'Disabled',
    roleAdmin: 'Admin', roleMember: 'Member', roleOwner: 'Owner', roleViewer: 'Viewer',
    policyTitle: 'Security policy', minLength: 'Minimum password length', minClasses: 'Kinds of characters required (1–4)',
    requireCert: 'Require a client certificate', saved: 'Saved.',
    auditTitle: 'Audit log', from: 'From', to: 'To', action: 'Action', show: 'Show', exportJSON: 'Export JSON', exportCSV: 'Export CSV',
    time: 'Time', actor: 'Actor', target: 'Target', source: 'Source',
    pending: 'Pending invitations', none: 'None.', forbidden: 'You may not do this.', error: 'Something went wrong: ',
  },
};

const professions = {
  ja: { doctor: '医師', dentist: '歯科医師', pharmacist: '薬剤師', nurse: '看護師', therapist: '療法士',
        care_manager: 'ケアマネジャー', care_worker: '介護職', family: '家族', other: 'その他' },
  en: { doctor: 'Doctor', dentist: 'Dentist', pharmacist: 'Pharmacist', nurse: 'Nurse', therapist: 'Therapist',
        care_manager: 'Care manager', care_worker: 'Care worker', family: 'Family', other: 'Other' },
};

export const professionNames = Object.keys(professions.ja);

let lang = 'ja';
try { lang = localStorage.getItem('tsunagu.lang') === 'en' ? 'en' : 'ja'; } catch { /* storage may be off */ }

export function language() { return lang; }

export function setLanguage(next) {
  lang = next === 'en' ? 'en' : 'ja';
  // Only the language preference is stored: never a token, never patient data.
  try { localStorage.setItem('tsunagu.lang', lang); } catch { /* ignore */ }
  document.documentElement.lang = lang;
}

export function t(key) { return strings[lang][key] ?? strings.ja[key] ?? key; }
export function professionLabel(p) { return professions[lang][p] ?? professions[lang].other; }
export function roleLabel(r) {
  return { admin: t('roleAdmin'), member: t('roleMember'), owner: t('roleOwner'), viewer: t('roleViewer') }[r] ?? r;
}
export function statusLabel(s) {
  return { invited: t('statusInvited'), active: t('statusActive'), disabled: t('statusDisabled') }[s] ?? s;
}

/** A wire time (RFC 3339) shown in Japan Standard Time, whatever the device's zone. */
export function formatTime(wire) {
  const date = new Date(wire);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', {
    timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  }).format(date) + ' JST';
}

export function formatDuration(seconds) {
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return lang === 'ja' ? `${m}分${s}秒` : `${m} min ${s} s`;
}

/** "既読 3 · 医師 1 · 看護師 2": readers counted by profession, most first. */
export function readSummary(readers) {
  if (readers.length === 0) return '';
  const counts = new Map();
  for (const p of readers) counts.set(p, (counts.get(p) || 0) + 1);
  const parts = [...counts.entries()].sort((a, b) => b[1] - a[1] || professionNames.indexOf(a[0]) - professionNames.indexOf(b[0]))
    .map(([p, n]) => `${professionLabel(p)} ${n}`);
  return [`${t('read')} ${readers.length}`, ...parts].join(' · ');
}
