// Small DOM helpers: building elements (text only, never HTML strings), form errors, busy buttons,
// announcements for screen readers, dates.

import { describe } from './messages.js';
import { SessionGone } from './api.js';

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** `h('a', {href: '/x', class: 'btn'}, 'text', child)`: children are nodes or text. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'dataset') Object.assign(element.dataset, value);
    else if (name === 'checked') element.checked = Boolean(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

/** Text (and a link) for an error. */
function errorContent(described) {
  const parts = [described.text];
  if (described.link) parts.push(' ', h('a', { href: described.link.href }, described.link.text));
  return parts;
}

/** Clears every error shown in `form`. */
export function clearErrors(form) {
  for (const input of $$('[aria-invalid]', form)) input.removeAttribute('aria-invalid');
  for (const box of $$('.field-error', form)) box.replaceChildren();
  const alert = $('[data-form-error]', form);
  if (alert) alert.replaceChildren();
}

/** Shows `content` under the field `name` of `form`; false when there is no such field. */
export function fieldError(form, name, content) {
  const input = form.elements.namedItem(name);
  if (!input || !input.id) return false;
  const box = document.getElementById(`${input.id}-error`);
  if (!box) return false;
  box.replaceChildren(...[content].flat());
  input.setAttribute('aria-invalid', 'true');
  return true;
}

/** Focuses the first field with an error, or the form's alert. */
export function focusFirstError(form) {
  const invalid = $('[aria-invalid="true"]', form);
  if (invalid) invalid.focus();
  else {
    const alert = $('[data-form-error]', form);
    if (alert && alert.childNodes.length) alert.focus();
  }
}

/**
 * Shows an API error in `form`: next to its field when it has one (`fields` maps API field
 * names to this form's input names), else in the form's alert. Returns the description.
 */
export function showFormError(form, error, fields = {}) {
  const described = describe(error);
  if (error instanceof SessionGone) return described;
  const name = described.field ? fields[described.field] || described.field : null;
  if (!(name && fieldError(form, name, errorContent(described)))) {
    const alert = $('[data-form-error]', form);
    if (alert) alert.replaceChildren(...errorContent(described));
  }
  focusFirstError(form);
  return described;
}

/** Shows an error in a standalone alert element. */
export function showAlert(element, error) {
  const described = describe(error);
  if (!(error instanceof SessionGone)) element.replaceChildren(...errorContent(described));
  return described;
}

/** Disables `button` and shows `label` while `work` runs. */
export async function busy(button, label, work) {
  const original = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (label) button.textContent = label;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = original;
  }
}

/** Says `text` to screen readers (polite). */
export function announce(text) {
  const region = $('[data-announce]');
  if (!region) return;
  region.textContent = '';
  // A new text node after a tick is announced even when the text repeats.
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/** Shows a short status next to a button, for a few seconds. */
export function flash(element, text, ms = 4000) {
  element.textContent = text;
  clearTimeout(element._flash);
  element._flash = setTimeout(() => {
    element.textContent = '';
  }, ms);
}

/** Wires the "Show" buttons of password fields. */
export function setupPasswordReveal(root = document) {
  for (const button of $$('[data-reveal]', root)) {
    const input = document.getElementById(button.dataset.reveal);
    if (!input) continue;
    button.setAttribute('aria-controls', input.id);
    button.addEventListener('click', () => {
      const show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      button.textContent = show ? 'Hide' : 'Show';
      button.setAttribute('aria-pressed', String(show));
      button.setAttribute('aria-label', show ? 'Hide password' : 'Show password');
    });
  }
}

/** The trimmed value of a form field. */
export function value(form, name, { trim = true } = {}) {
  const field = form.elements.namedItem(name);
  if (!field) return '';
  return trim ? field.value.trim() : field.value;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const looksLikeEmail = (text) => EMAIL.test(text);

/** Length as the server counts passwords (UTF-16 code units). */
export const passwordProblem = (password) =>
  password.length < 8 ? 'Use at least 8 characters.' : password.length > 128 ? 'Use at most 128 characters.' : null;

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** "2 minutes ago", "yesterday", or a date for anything older than a week. */
export function ago(iso) {
  const date = new Date(iso);
  const seconds = Math.round((date.getTime() - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  if (Number.isNaN(seconds)) return '';
  if (abs < 45) return 'just now';
  if (abs < 3600) return relative.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return relative.format(Math.round(seconds / 3600), 'hour');
  if (abs < 7 * 86400) return relative.format(Math.round(seconds / 86400), 'day');
  return absolute.format(date);
}

/** A `<time>` element with a relative text and the exact time as its title. */
export function timeElement(iso, prefix = '') {
  const date = new Date(iso);
  return h('time', { datetime: iso, title: absolute.format(date) }, `${prefix}${ago(iso)}`);
}

/** Puts the signed-in user's name in the top bar. */
export function showUserName(name, email) {
  const slot = $('[data-user-name]');
  if (slot) {
    slot.textContent = name || email || '';
    if (email) slot.title = email;
  }
}
