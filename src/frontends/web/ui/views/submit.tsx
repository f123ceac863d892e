// The submit form: text (with examples), priority, now / at a time / recurring, review before done.
import { useState } from 'preact/hooks';
import { api, type TaskJson } from '../api.ts';
import { store } from '../store.ts';

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

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      if (when === 'now') {
        const r = await api<{ task: TaskJson; warnings: string[] }>('POST', '/api/tasks', {
          text,
          priority,
          review,
        });
        store.put(r.task);
        setMessage({ error: false, text: `Submitted ${r.task.shortId}. ${r.warnings.join(' ')}` });
      } else {
        const r = await api<{ schedule: { shortId: string; description: string } }>('POST', '/api/schedules', {
          when: when === 'at' ? at : every,
          text,
          priority,
        });
        setMessage({ error: false, text: `Scheduled ${r.schedule.shortId}: ${r.schedule.description}` });
      }
      setText('');
    } catch (err) {
      setMessage({ error: true, text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="submit" onSubmit={submit} aria-labelledby="submit-title">
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
