// A complete job profile for component tests, with the engine's defaults.
import type { Profile } from "../bindings/Profile";
import { newEndpoint } from "../lib/validate";

export function testProfile(): Profile {
  return {
    name: "shop",
    mode: "all",
    source: { ...newEndpoint(), host: "db1", user: "migrator" },
    target: { ...newEndpoint(), host: "db2", user: "root" },
    objects: {},
    options: {
      consistency: "auto",
      export_threads: 4,
      import_threads: 4,
      chunk_bytes: 4194304,
      on_existing: "error",
      definer: "rewrite",
      meta_schema: "ferry_meta",
      write_method: "auto",
    },
    incremental: { start: "snapshot", server_id: null, cutover: "auto", apply_workers: 1, filters: [], verify_share: 20, reverse: "off" },
  };
}
