// The wizard's steps, once: their order, labels and which can be gone back to
// for editing. The app's pages, the step rail and the wizard state read this.
export const STEPS = [
  { id: "connect", label: "Connect", editable: true },
  { id: "mode", label: "Mode", editable: true },
  { id: "objects", label: "Objects", editable: true },
  { id: "options", label: "Options", editable: true },
  { id: "precheck", label: "Precheck", editable: true },
  { id: "progress", label: "Run", editable: false },
  { id: "done", label: "Done", editable: false },
] as const;

export type Step = (typeof STEPS)[number]["id"];

const at = (step: Step) => STEPS.findIndex((s) => s.id === step);

/** The step after `step` (the last stays). */
export const nextStep = (step: Step): Step => STEPS[Math.min(at(step) + 1, STEPS.length - 1)].id;

/** The step before `step` (the first stays). */
export const previousStep = (step: Step): Step => STEPS[Math.max(at(step) - 1, 0)].id;

/** Whether `step` is one of the wizard's (not the job list or a job's view). */
export const isStep = (page: string): page is Step => STEPS.some((s) => s.id === page);

/** Whether a step's settings may still be edited from `current`. */
export const editableFrom = (current: Step) => STEPS[at(current)]?.editable ?? false;
