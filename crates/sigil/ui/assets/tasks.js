// The task list (`/tasks`) and one task (`/tasks/{id}`), over the tasks API with the JWT.

import { beforeSignIn, currentUserId, tasks, token, SessionGone } from './api.js';
import {
  $, $$, h, announce, busy, clearErrors, fieldError, flash, focusFirstError, showAlert,
  showFormError, showUserName, timeElement, value,
} from './dom.js';

const FILTERS = ['all', 'pending', 'completed'];
const EMPTY = {
  all: 'No tasks yet. Add your first one above.',
  pending: 'Nothing pending. Well done!',
  completed: 'No completed tasks yet.',
};

/** Checks a task form; returns `{title, description}` or null after showing the problems. */
function readTaskForm(form) {
  clearErrors(form);
  const title = value(form, 'title');
  const description = value(form, 'description');
  if (!title) fieldError(form, 'title', 'Give the task a title.');
  else if ([...title].length > 200) fieldError(form, 'title', 'Keep the title under 200 characters.');
  if ([...description].length > 1000) fieldError(form, 'description', 'Keep the notes under 1000 characters.');
  if ($('[aria-invalid="true"]', form)) {
    focusFirstError(form);
    return null;
  }
  return { title, description };
}

/** Asks for confirmation in the page's delete dialog; resolves true to delete. */
function confirmDelete(title) {
  const dialog = $('[data-delete-dialog]');
  $('[data-delete-name]', dialog).textContent = title;
  return new Promise((resolve) => {
    const onClose = () => {
      // The close event of an earlier closing can arrive after this opening: ignore it.
      if (dialog.open) return;
      dialog.removeEventListener('close', onClose);
      resolve(dialog.returnValue === 'delete');
    };
    dialog.returnValue = '';
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    $('button[value="cancel"]', dialog).focus();
  });
}

async function showUser() {
  try {
    const { claims } = await token();
    showUserName(claims.name, claims.email);
  } catch {
    // The page reports problems where they matter (the list); sign-in redirects happen anyway.
  }
}

/**
 * The "Add task" draft of a page whose session ended: kept in this tab's sessionStorage (never
 * sent anywhere) on the way to sign-in, and put back when the same user is back on the tasks
 * page; another user signing in in this tab never sees it.
 */
const DRAFT_KEY = 'sigil.add-task-draft';

function keepDraft(form) {
  const title = form.elements.namedItem('title').value;
  const description = form.elements.namedItem('description').value;
  if (!title.trim() && !description.trim()) return;
  sessionStorage.setItem(DRAFT_KEY, JSON.stringify({ user: currentUserId(), title, description }));
}

async function restoreDraft(form) {
  const saved = sessionStorage.getItem(DRAFT_KEY);
  if (!saved) return;
  let userId = null;
  try {
    userId = (await token()).claims.sub;
  } catch {
    return;
  }
  sessionStorage.removeItem(DRAFT_KEY);
  let draft;
  try {
    draft = JSON.parse(saved);
  } catch {
    return;
  }
  if (!draft || (draft.user && draft.user !== userId)) return;
  const title = form.elements.namedItem('title');
  const description = form.elements.namedItem('description');
  if (title.value || description.value) return;
  title.value = draft.title || '';
  description.value = draft.description || '';
  const notice = $('[data-draft-notice]');
  if (notice) {
    notice.textContent = 'Your task was not added before your session ended: it is back in the form. Press “Add task” to add it.';
    notice.hidden = false;
  }
}

export async function tasksPage() {
  const form = $('[data-form="add-task"]');
  const list = $('[data-task-list]');
  const listError = $('[data-list-error]');
  const loading = $('[data-loading]');
  const empty = $('[data-empty]');
  const summary = $('[data-summary]');
  const params = new URLSearchParams(location.search);
  let filter = FILTERS.includes(params.get('status')) ? params.get('status') : 'all';
  let shown = [];
  let generation = 0;

  $(`input[name="status"][value="${filter}"]`).checked = true;
  showUser();
  beforeSignIn(() => keepDraft(form));
  restoreDraft(form);

  function describeCount() {
    const n = shown.length;
    const done = shown.filter((t) => t.completed).length;
    const plural = (k, word) => `${k} ${word}${k === 1 ? '' : 's'}`;
    if (filter === 'pending') return n ? `${plural(n, 'task')} to do` : '';
    if (filter === 'completed') return n ? `${plural(n, 'completed task')}` : '';
    return n ? `${plural(n, 'task')} · ${done} completed` : '';
  }

  function render() {
    list.replaceChildren(...shown.map(item));
    list.removeAttribute('aria-busy');
    loading.hidden = true;
    empty.hidden = shown.length > 0;
    $('[data-empty-text]', empty).textContent = EMPTY[filter];
    summary.textContent = describeCount();
  }

  function item(task) {
    const checkboxId = `done-${task.id}`;
    const titleId = `title-${task.id}`;
    const checkbox = h('input', {
      type: 'checkbox',
      id: checkboxId,
      checked: task.completed,
      'aria-describedby': task.description ? `notes-${task.id}` : null,
    });
    const edit = h('a', { class: 'btn btn-quiet btn-small', href: `/tasks/${encodeURIComponent(task.id)}`, 'aria-label': `Edit “${task.title}”` }, 'Edit');
    const remove = h('button', { type: 'button', class: 'btn btn-danger-quiet btn-small', 'aria-label': `Delete “${task.title}”` }, 'Delete');
    const li = h(
      'li',
      { class: `task${task.completed ? ' is-done' : ''}`, dataset: { id: task.id } },
      checkbox,
      h(
        'div',
        { class: 'task-body' },
        h('label', { class: 'task-title', for: checkboxId, id: titleId }, task.title),
        task.description ? h('p', { class: 'task-description', id: `notes-${task.id}` }, task.description) : null,
        h('p', { class: 'task-meta' }, timeElement(task.created_at, 'Added ')),
      ),
      h('div', { class: 'task-actions' }, edit, remove),
    );
    checkbox.addEventListener('change', () => toggle(task, checkbox));
    remove.addEventListener('click', () => destroy(task, remove));
    return li;
  }

  async function load() {
    const mine = ++generation;
    listError.replaceChildren();
    list.setAttribute('aria-busy', 'true');
    try {
      const result = await tasks.list(filter);
      if (mine !== generation) return;
      shown = result;
      render();
    } catch (error) {
      if (mine !== generation) return;
      loading.hidden = true;
      list.removeAttribute('aria-busy');
      showAlert(listError, error);
    }
  }

  async function toggle(task, checkbox) {
    const wanted = checkbox.checked;
    checkbox.disabled = true;
    listError.replaceChildren();
    try {
      const updated = await tasks.setCompleted(task.id, wanted);
      Object.assign(task, updated);
      announce(updated.completed ? `Completed “${task.title}”.` : `“${task.title}” is pending again.`);
      if (filter !== 'all') shown = shown.filter((t) => t.id !== task.id);
      render();
      const again = document.getElementById(`done-${task.id}`);
      if (again) again.focus();
      else $('input[name="status"]:checked').focus();
    } catch (error) {
      checkbox.checked = !wanted;
      checkbox.disabled = false;
      showAlert(listError, error);
      if (error.code === 'TASK_NOT_FOUND') load();
    }
  }

  async function destroy(task, button) {
    if (!(await confirmDelete(task.title))) return button.focus();
    listError.replaceChildren();
    try {
      await tasks.remove(task.id);
    } catch (error) {
      if (error.code !== 'TASK_NOT_FOUND') return showAlert(listError, error);
    }
    const index = shown.findIndex((t) => t.id === task.id);
    shown = shown.filter((t) => t.id !== task.id);
    render();
    announce(`Deleted “${task.title}”.`);
    const next = $$('.task input[type="checkbox"]', list)[Math.min(index, shown.length - 1)];
    (next || form.elements.namedItem('title')).focus();
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const fields = readTaskForm(form);
    if (!fields) return;
    try {
      const created = await busy($('button[type="submit"]', form), 'Adding…', () =>
        tasks.create(fields.title, fields.description),
      );
      form.reset();
      const notice = $('[data-draft-notice]');
      if (notice) notice.hidden = true;
      if (filter !== 'completed') shown.push(created);
      render();
      announce(`Added “${created.title}”.`);
      form.elements.namedItem('title').focus();
    } catch (error) {
      showFormError(form, error);
    }
  });

  for (const radio of $$('input[name="status"]')) {
    radio.addEventListener('change', () => {
      // A new view: problems shown for the old one (an empty title, a failed call) are stale.
      clearErrors(form);
      filter = radio.value;
      const url = filter === 'all' ? '/tasks' : `/tasks?status=${filter}`;
      history.replaceState(null, '', url);
      load();
    });
  }

  await load();
}

export async function taskPage() {
  const id = decodeURIComponent(location.pathname.split('/')[2] || '');
  const editor = $('[data-editor]');
  const form = $('[data-form="edit-task"]');
  const pageError = $('[data-page-error]');
  const loading = $('[data-loading]');
  const notFound = $('[data-not-found]');
  showUser();

  let task;
  try {
    task = await tasks.get(id);
  } catch (error) {
    loading.hidden = true;
    if (error instanceof SessionGone) return;
    if (error.code === 'TASK_NOT_FOUND' || error.status === 404) {
      document.title = 'Task not found · Sigil';
      $('#page-title').textContent = 'Task not found';
      // One way back: the panel's button, not also the link above the title.
      $('[data-back]').hidden = true;
      notFound.hidden = false;
    } else {
      showAlert(pageError, error);
    }
    return;
  }

  const fill = () => {
    form.elements.namedItem('title').value = task.title;
    form.elements.namedItem('description').value = task.description;
    form.elements.namedItem('completed').checked = task.completed;
    const created = timeElement(task.created_at, 'Added ');
    const parts = [created];
    if (task.updated_at !== task.created_at) parts.push(' · ', timeElement(task.updated_at, 'changed '));
    $('[data-task-dates]').replaceChildren(...parts);
    document.title = `${task.title} · Sigil`;
  };
  fill();
  loading.hidden = true;
  editor.hidden = false;
  form.elements.namedItem('title').focus();

  const status = h('span', { class: 'saved', role: 'status' });
  $('.form-actions .form-actions', form).append(status);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const fields = readTaskForm(form);
    if (!fields) return;
    const completed = form.elements.namedItem('completed').checked;
    try {
      task = await busy($('button[type="submit"]', form), 'Saving…', () =>
        tasks.replace(task.id, { ...fields, completed }),
      );
      fill();
      flash(status, 'Changes saved.');
    } catch (error) {
      showFormError(form, error);
    }
  });

  $('[data-action="delete"]', form).addEventListener('click', async (event) => {
    if (!(await confirmDelete(task.title))) return event.target.focus();
    try {
      await tasks.remove(task.id);
      location.replace('/tasks');
    } catch (error) {
      if (error.code === 'TASK_NOT_FOUND') location.replace('/tasks');
      else showFormError(form, error);
    }
  });
}
