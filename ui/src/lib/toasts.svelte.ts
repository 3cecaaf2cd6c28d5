// Short confirmations of what the DBA just did ("Pause requested", "SQL copied"),
// shown for a few seconds in a corner; errors stay on their page instead, where
// their fix can be read.
export type ToastKind = "info" | "success" | "warning";
export interface Toast {
  id: number;
  kind: ToastKind;
  text: string;
}

export const toasts: Toast[] = $state([]);
let next = 1;

/** How long a toast stays, in milliseconds. */
export const TOAST_MS = 5000;

export function toast(text: string, kind: ToastKind = "info"): number {
  const id = next++;
  toasts.push({ id, kind, text });
  setTimeout(() => dismiss(id), TOAST_MS);
  return id;
}

export function dismiss(id: number) {
  const i = toasts.findIndex((t) => t.id === id);
  if (i >= 0) toasts.splice(i, 1);
}
