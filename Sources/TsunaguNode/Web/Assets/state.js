// The signed-in state shared by the screens. app.js fills in the actions (navigate, loggedIn,
// logout, track), so that no screen module imports app.js (module imports form no cycle: each
// file's hashed name covers those of the files it imports).
export const app = {
  me: null,
  realtime: null,
  timelines: new Map(),        // id → {id,title,kind,role,head,unread,latest}
  listeners: new Set(),        // live updates for the screen on show: (kind, payload) => void
  notice: '',
  navigate: (hash) => { location.hash = hash; },
  loggedIn: async () => {},
  logout: async () => {},
  track: () => {},
};
