/** `METHOD path` of every route the express app answers, walking nested routers (express 5 layers). */
export function appRoutes(app: { router: { stack: unknown[] } }): string[] {
  const found: string[] = [];
  const walk = (stack: unknown[], prefix: string) => {
    for (const raw of stack) {
      const layer = raw as {
        route?: { path: string | string[]; methods: Record<string, boolean> };
        handle?: { stack?: unknown[] };
        rawPath?: string | string[];
      };
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        for (const path of paths) {
          for (const [method, on] of Object.entries(layer.route.methods)) {
            if (on && method !== "_all") found.push(`${method.toUpperCase()} ${prefix}${path}`);
          }
        }
      } else if (layer.handle?.stack) {
        const mount = typeof layer.rawPath === "string" && layer.rawPath !== "/" ? layer.rawPath : "";
        walk(layer.handle.stack, prefix + mount);
      }
    }
  };
  walk(app.router.stack, "");
  return found;
}
