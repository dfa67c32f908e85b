// Work-order vocabulary shared by the work-order screens.
export const STATUSES = ['draft', 'open', 'in_progress', 'on_hold', 'completed', 'closed', 'cancelled'];
export const PRIORITIES = ['low', 'medium', 'high', 'critical'];
export const TYPES = ['corrective', 'preventive', 'inspection', 'emergency'];

// The API's state machine (README): from -> the statuses it may move to.
export const TRANSITIONS = {
  draft: ['open', 'cancelled'],
  open: ['in_progress', 'on_hold', 'cancelled'],
  in_progress: ['on_hold', 'completed', 'cancelled'],
  on_hold: ['in_progress', 'cancelled'],
  completed: ['closed', 'in_progress'],
  closed: [],
  cancelled: [],
};

/** The button that moves a work order from `from` to `to`. */
export function transitionLabel(from, to) {
  if (to === 'in_progress') return from === 'on_hold' ? 'Resume' : from === 'completed' ? 'Reopen' : 'Start';
  return { open: 'Open', on_hold: 'Put on hold', completed: 'Complete', closed: 'Close', cancelled: 'Cancel work order' }[to] || to;
}

export const CONFLICT = 'This work order was changed by someone else — reload to see the latest version.';
