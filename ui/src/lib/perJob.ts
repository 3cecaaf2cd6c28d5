// A value per job kept on this computer, in localStorage under one key. A store
// that cannot be read reads as empty; one that cannot be written (private mode, a
// full store) keeps the value only as long as the caller holds it.
export function perJob<T>(key: string) {
  const all = (): Record<string, T> => {
    try {
      return JSON.parse(localStorage.getItem(key) ?? "{}") as Record<string, T>;
    } catch {
      return {};
    }
  };
  return {
    get: (job: string): T | undefined => all()[job],
    /** Keeps `value` for the job, or forgets the job's value (`null`). */
    set(job: string, value: T | null) {
      const next = all();
      if (value === null) delete next[job];
      else next[job] = value;
      try {
        localStorage.setItem(key, JSON.stringify(next));
      } catch {
        // Not kept beyond the window (see above).
      }
    },
  };
}
