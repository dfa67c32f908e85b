// What each role may do in the app, mirroring the API's rules (README "The API in brief"): a viewer only
// reads; a technician works orders and alerts; admins and supervisors also change the fleet.
export const WRITERS = ['admin', 'supervisor', 'technician'];

export const canWork = (me) => !!me && WRITERS.includes(me.role); // work orders and alerts
export const canEditFleet = (me) => !!me && (me.role === 'admin' || me.role === 'supervisor');
