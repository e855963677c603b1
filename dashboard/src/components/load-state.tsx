// What a page shows instead of its data: the failed read's Status message, or that it is loading.

/** The message of a failed read (the server's Status message). */
export function ErrorNote({ error }: { error: Error }) {
  return (
    <p class="error" data-testid="error">
      {error.message}
    </p>
  );
}

export function Loading() {
  return (
    <p class="muted" data-testid="loading">
      Loading…
    </p>
  );
}

/** The error when the read failed, else "Loading…". */
export function LoadingOrError({ error }: { error: Error | undefined }) {
  return error !== undefined ? <ErrorNote error={error} /> : <Loading />;
}
