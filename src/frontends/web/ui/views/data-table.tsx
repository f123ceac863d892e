// A scrollable table with a header row of column titles: the shape every table of the dashboard shares.
import { Fragment, type ComponentChildren } from 'preact';

/** A table whose header row is `columns` (text or ready-made header cells) and whose body is `children`. */
export function DataTable({
  columns,
  children,
  class: className,
}: {
  columns: ComponentChildren[];
  children: ComponentChildren;
  class?: string;
}) {
  return (
    <div class="table-wrap">
      <table class={className}>
        <thead>
          <tr>
            {columns.map((c, i) =>
              typeof c === 'string' ? (
                <th key={c} scope="col">
                  {c}
                </th>
              ) : (
                <Fragment key={i}>{c}</Fragment>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
