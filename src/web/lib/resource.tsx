import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, type RequestOptions } from "./api";
import { ErrorNote, Loading } from "./ui";

/** What a component reads from a resource: the last data, the last error, and how to refresh it. */
export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
  setData: (update: (current: T | undefined) => T | undefined) => void;
}

/**
 * Runs `load` on mount, whenever `deps` change and on `reload()`; keeps the last data while reloading.
 * The signal aborts the request in flight when a newer one starts or the component unmounts, and
 * whatever a superseded load resolves to is dropped.
 */
export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Resource<T> {
  const [data, setDataState] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const generation = useRef(0);
  useEffect(() => {
    const mine = ++generation.current;
    const controller = new AbortController();
    setLoading(true);
    load(controller.signal).then(
      (value) => {
        if (mine !== generation.current) return;
        setDataState(value);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== generation.current) return;
        setError(err instanceof ApiError ? err : new ApiError(0, "client", String(err)));
        setLoading(false);
      },
    );
    return () => {
      // A cleanup runs before the next load and on unmount: either way this load's answer is stale.
      if (mine === generation.current) generation.current++;
      controller.abort();
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const setData = useCallback(
    (update: (current: T | undefined) => T | undefined) => setDataState(update),
    [],
  );
  return { data, error, loading, reload, setData };
}

/** `GET path?query` as a resource; a change in `path` or in any query value loads again. */
export function useApi<T>(path: string, query?: RequestOptions["query"]): Resource<T> {
  const key = JSON.stringify(query ?? {});
  return useResource((signal) => api<T>(path, { query, signal }), [path, key]);
}

/** The error or the loading line of a resource, nothing once it has data. */
export function ResourceStatus(props: { resource: Pick<Resource<unknown>, "data" | "error">; what: string }) {
  const { data, error } = props.resource;
  if (error) return <ErrorNote error={error} what={props.what} />;
  return data === undefined ? <Loading /> : null;
}
