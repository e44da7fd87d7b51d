// SES's override plans: an internal module of SES (see ses.ts), typed here for it alone.
declare module 'ses/src/enablements.js' {
  type Plan = Record<string, Record<string, boolean> | '*' | undefined>;
  export const moderateEnablements: Plan;
  export const severeEnablements: Plan;
}
