// What the views share: the current route, the data every refresh loads
// (queues, counts per state, task types), the operator's selection of
// tasks, and the page's few services (refresh, flash), set by
// dashboard.js at start.

/** What an action answers when it changed only the page, not the server: render, do not reload. */
export const SILENT = Symbol('silent');

export const app = {
  route: { view: 'overview' },
  /** `GET api/task-types`, loaded once per token. */
  types: [],
  /** `GET api/queues` of the last refresh. */
  queues: [],
  /** Tasks per state over all queues, of the last refresh. */
  counts: {},
  /** Selected tasks: id → the state they were last seen in. Kept across refreshes and pages. */
  selected: new Map(),
  /** The id of the pending task being dragged, while a drag lasts. */
  dragId: null,
  /** Runs a refresh now (or right after the one in flight). */
  refresh: () => Promise.resolve(),
  /** Re-renders the current view from the data it has, without loading. */
  render: () => {},
  /** Tells the operator how an action went. */
  flash: (_text, _isError) => {},
  /** Goes to a dashboard address; `replace` rewrites the current history entry. */
  navigate: (_href, _replace) => {},
};

/** Runs `work` over `items`, `limit` at a time; the first error stops the rest. */
export async function pool(items, limit, work) {
  const queue = [...items];
  const runners = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    while (queue.length) {
      try {
        await work(queue.shift());
      } catch (err) {
        queue.length = 0;
        throw err;
      }
    }
  });
  await Promise.all(runners);
}
