// Copying SQL for the DBA to run elsewhere: the precheck's fixes, the Done page's
// checklist. Says in a toast whether it worked.
import { toast } from "./toasts.svelte";

/** Copies `text`; true when it is on the clipboard, else the DBA is told to copy by hand. */
export async function copyText(text: string, said: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    toast(said, "success");
    return true;
  } catch {
    toast("Could not copy: select the SQL and copy it by hand", "warning");
    return false;
  }
}
