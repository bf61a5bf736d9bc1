import { lastValueFrom, tap, type Observable } from 'rxjs';

/** Runs a pipeline's event stream to its end, printing the line `describe` gives each event (none for undefined). */
export async function logEvents<E>(events: Observable<E>, describe: (e: E) => string | undefined): Promise<void> {
  await lastValueFrom(
    events.pipe(
      tap((e) => {
        const line = describe(e);
        if (line) console.log(line);
      }),
    ),
    { defaultValue: undefined },
  );
}
