/** `lavamoat help diff` (apart from src/cli/diff.ts, which args.ts need not load). */
export const DIFF_HELP = `Usage: lavamoat diff <old> [new] [options]

Compares the powers two policies hand out: per package, the grants added and removed,
and the packages that appear or go away, ranked by risk:
  process   child_process, vm, worker_threads, cluster, module, inspector, v8, wasi, repl,
            the whole process global (or process.binding, dlopen, kill, ...), native addons
  fs-write  the whole fs module, or members that write, create, remove or open files
  network   net, http, https, http2, dgram, dns, tls, the fetch/WebSocket/EventSource globals
  other     everything else

<old> and <new> are each a policy file or a git revision. A file is merged with the
override the runtime would use with it: the configured one (-o) for the project's own
policy, otherwise the policy-override.json next to it if there is one. A revision (HEAD~1,
main, a commit) means the project's policy.json merged with its policy-override.json as
they were at that revision (git show <rev>:<path>, paths relative to the project root); a
revision without a policy counts as an empty one. Without [new], the policy and override
in the working tree. Both are validated as the loader validates them.

Options:
      --format <format>         text (default), markdown (for a pull-request comment) or json
      --json                    Same as --format json
      --fail-on <level>         Exit with 1 if a power at or above <level> is added:
                                process, fs-write, network or any
  -p, --policy <file>           The project's policy [default: lavamoat/node/policy.json]
  -o, --policy-override <file>  Its override         [default: lavamoat/node/policy-override.json]
      --root <dir>              Project root         [default: nearest package.json above the working directory]

Exit codes: 0 compared (and nothing at or above --fail-on was added); 1 a power at or
above --fail-on was added; 2 usage or input error (a bad option, an argument that is
neither a file nor a revision, a policy that is missing, not JSON or invalid).
`;
