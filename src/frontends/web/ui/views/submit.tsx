// The submit form: text (with examples), priority, now / at a time / recurring, review before done, attached files.
import { useState } from 'preact/hooks';
import { ApiError, api, type TaskJson } from '../api.ts';
import { store } from '../store.ts';
import { formatSize } from '../util.ts';

const EXAMPLES = [
  'summarise https://example.org',
  'research upcoming environmental bills and prepare talking points',
  'every day at 9:00 summarise the news',
];

export function SubmitForm() {
  const [text, setText] = useState('');
  const [priority, setPriority] = useState('normal');
  const [when, setWhen] = useState<'now' | 'at' | 'every'>('now');
  const [at, setAt] = useState('');
  const [every, setEvery] = useState('every day at 9:00');
  const [review, setReview] = useState(false);
  const [message, setMessage] = useState<{ error: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [files, setFiles] = useState<File[]>([]);
  const [dragging, setDragging] = useState(false);
  // Files picked twice (same name) are kept once: the last one wins, as the API stores one file per name.
  const addFiles = (list: FileList | null | undefined) => {
    const added = [...(list ?? [])];
    if (added.length) setFiles((old) => [...old.filter((f) => !added.some((a) => a.name === f.name)), ...added]);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    addFiles(e.dataTransfer?.files);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      if (when === 'now') {
        let body: unknown = { text, priority, review };
        if (files.length) {
          const form = new FormData();
          form.append('text', text);
          form.append('priority', priority);
          form.append('review', String(review));
          for (const f of files) form.append('file', f, f.name);
          body = form;
        }
        const r = await api<{ task: TaskJson; warnings: string[] }>('POST', '/api/tasks', body);
        store.put(r.task);
        const attached = files.length ? ` with ${files.length} file${files.length > 1 ? 's' : ''}` : '';
        setMessage({ error: false, text: `Submitted ${r.task.shortId}${attached}. ${r.warnings.join(' ')}` });
        setFiles([]);
      } else {
        if (files.length) throw new Error('Files can only go with a task that runs now: choose "Now" or remove them.');
        const r = await api<{ schedule: { shortId: string; description: string } }>('POST', '/api/schedules', {
          when: when === 'at' ? at : every,
          text,
          priority,
        });
        setMessage({ error: false, text: `Scheduled ${r.schedule.shortId}: ${r.schedule.description}` });
      }
      setText('');
    } catch (err) {
      const tooLarge = err instanceof ApiError && err.status === 413;
      setMessage({ error: true, text: `${tooLarge ? 'File too large: ' : ''}${(err as Error).message}` });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class={`submit${dragging ? ' dragging' : ''}`}
      onSubmit={submit}
      aria-labelledby="submit-title"
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={onDrop}
    >
      <h2 id="submit-title">New task</h2>
      <label for="task-text">What should be done?</label>
      <textarea
        id="task-text"
        name="text"
        rows={3}
        required
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        placeholder={EXAMPLES[0]}
      />
      <div class="examples" role="group" aria-label="Examples">
        {EXAMPLES.map((x) => (
          <button type="button" class="chip" key={x} onClick={() => setText(x)}>
            {x}
          </button>
        ))}
      </div>
      <div class="row">
        <label>
          Priority{' '}
          <select name="priority" value={priority} onChange={(e) => setPriority(e.currentTarget.value)}>
            <option value="urgent">urgent</option>
            <option value="normal">normal</option>
            <option value="low">low</option>
          </select>
        </label>
        <fieldset class="when">
          <legend>When</legend>
          {(['now', 'at', 'every'] as const).map((w) => (
            <label key={w}>
              <input type="radio" name="when" value={w} checked={when === w} onChange={() => setWhen(w)} />
              {w === 'now' ? 'Now' : w === 'at' ? 'At a time' : 'Recurring'}
            </label>
          ))}
        </fieldset>
        {when === 'at' && (
          <label>
            Run at <input type="datetime-local" required value={at} onInput={(e) => setAt(e.currentTarget.value)} />
          </label>
        )}
        {when === 'every' && (
          <label>
            Repeat{' '}
            <input
              type="text"
              required
              value={every}
              onInput={(e) => setEvery(e.currentTarget.value)}
              aria-describedby="every-hint"
            />
            <small id="every-hint"> e.g. every 15 minutes, every weekday at 8:00, 0 9 * * 1-5</small>
          </label>
        )}
        {when === 'now' && (
          <label>
            <input type="checkbox" checked={review} onChange={(e) => setReview(e.currentTarget.checked)} /> Review
            before done
          </label>
        )}
        <div class="files">
          <label for="task-files">Attach files</label>{' '}
          <input
            id="task-files"
            type="file"
            multiple
            aria-describedby="files-hint"
            onChange={(e) => {
              addFiles(e.currentTarget.files);
              e.currentTarget.value = '';
            }}
          />
          <small id="files-hint"> or drop them on the form</small>
          {files.length > 0 && (
            <ul class="chosen" aria-label="Files to attach">
              {files.map((f) => (
                <li key={f.name}>
                  {f.name} <small>{formatSize(f.size)}</small>{' '}
                  <button
                    type="button"
                    class="chip"
                    aria-label={`Remove ${f.name}`}
                    onClick={() => setFiles((old) => old.filter((x) => x !== f))}
                  >
                    ×
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
        <button type="submit" disabled={busy}>
          Submit
        </button>
      </div>
      {message && (
        <p role={message.error ? 'alert' : 'status'} class={message.error ? 'error' : 'ok'}>
          {message.text}
        </p>
      )}
    </form>
  );
}
