// What the step rail shows besides where the DBA is: a step that cannot be
// entered yet, and why (a failing check blocks Run; a run stopped by an error
// blocks Done). Pages set it; the rail reads it.
import type { Step } from "./steps";
export type { Step } from "./steps";

export const wizard: { blocked: { step: Step; reason: string } | null } = $state({ blocked: null });

export function block(step: Step, reason: string) {
  wizard.blocked = { step, reason };
}

export function unblock(step: Step) {
  if (wizard.blocked?.step === step) wizard.blocked = null;
}
