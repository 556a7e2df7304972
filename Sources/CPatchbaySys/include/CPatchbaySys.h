// CPatchbaySys — the few Linux system calls Swift cannot make directly.
//
// Owns: variadic calls (prctl, syscall), posix_spawn with a new session and
// a clean descriptor table, and resource limits by a stable integer name.
// Must never know: connectors, the wire protocol, or anything above a syscall.
#ifndef CPATCHBAY_SYS_H
#define CPATCHBAY_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Sets PR_SET_PDEATHSIG for the calling thread's process. Returns 0 or errno.
int pb_set_parent_death_signal(int signal_number);

/// Sets the calling thread's name (PR_SET_NAME, at most 15 bytes): what ps and /proc/PID/comm show.
int pb_set_process_name(const char *name);

/// Sets PR_SET_NO_NEW_PRIVS. Returns 0 or errno.
int pb_set_no_new_privileges(void);

/// pidfd_open(2): a descriptor that polls readable when `pid` exits. -1 on error.
int pb_pidfd_open(pid_t pid);

/// pipe2(fds, O_CLOEXEC): glibc declares pipe2 only under _GNU_SOURCE. Returns 0 or errno.
int pb_pipe_cloexec(int fds[2]);

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK): a wake-up descriptor. -1 on error.
int pb_wakeup_descriptor(void);

/// Resource limits by stable names (glibc's enum type does not import well).
enum {
    PB_LIMIT_ADDRESS_SPACE = 1,
    PB_LIMIT_CPU_SECONDS = 2,
    PB_LIMIT_OPEN_FILES = 3,
    PB_LIMIT_PROCESSES = 4,
    PB_LIMIT_CORE_SIZE = 5,
    PB_LIMIT_FILE_SIZE = 6
};

/// setrlimit(2) with soft = hard = value. Returns 0 or errno.
int pb_set_limit(int which, uint64_t value);

/// One descriptor to hand to the child: the parent's `source` becomes the child's `target`.
typedef struct pb_fd_mapping {
    int source;
    int target;
} pb_fd_mapping;

/// Spawns `path` in a new session (so it leads its own process group), with
/// every signal disposition reset to default, an empty signal mask, exactly the
/// given descriptors (stdin is /dev/null unless mapped), and every other
/// descriptor closed: by posix_spawn_file_actions_addclosefrom_np on glibc 2.34
/// and later; on an older C library only descriptors marked close-on-exec are
/// kept from the child. `envp` may be an empty array. The sources may overlap
/// the targets: they are first duplicated out of the way.
/// Returns 0 and sets *out_pid, or an errno value.
int pb_spawn(const char *path, char *const argv[], char *const envp[],
             const pb_fd_mapping *mappings, size_t mapping_count, pid_t *out_pid);


/// openat2(2) of `path` beneath `directory` for reading, refusing any symbolic link, magic link, ".."
/// escape or mount crossing on the way. Returns the descriptor, or -errno.
int pb_open_beneath(int directory, const char *path);

/// Counts the CSV records in `fd` (newlines outside double quotes; a last record without one counts).
/// Returns 0, EINVAL when a quote is left open, or errno.
int pb_csv_records(int fd, uint64_t *records);

// ---- The zygote (sys.c): one pre-started runner forks a child per task, skipping exec and the loader ----

/// In the zygote: waits for the next request (four descriptors: socket, cancel pipe, stdout, stderr).
/// Returns 0, -1 when the host closed the control socket, -2 for a malformed request.
int pb_zygote_next(int control, int descriptors[4]);

/// clone(CLONE_PARENT | SIGCHLD): a child whose parent is the zygote's parent (the host). 0 in the child.
pid_t pb_clone_as_sibling(void);

/// In the child: a new session, default signals, the four descriptors as 3, 4, 1, 2, stdin /dev/null,
/// every other descriptor closed. Returns 0 or errno.
int pb_zygote_child_setup(const int descriptors[4]);

/// In the zygote, once: every signal's disposition back to SIG_DFL (the host's ignored ones survive exec), so that
/// a child starts with the defaults without resetting them itself.
void pb_reset_signal_dispositions(void);

/// In the zygote: tells the host the child's pid. Returns 0 or errno.
int pb_zygote_reply(int control, pid_t pid);

/// In the host: asks the zygote for a child with these four descriptors; sets *pid. Returns 0 or errno.
int pb_zygote_request(int control, const int descriptors[4], pid_t *pid);

// ---- Sandbox layers (sandbox.c), applied by the runner to itself before any connector code loads ----

/// The Landlock ABI version the running kernel offers; 0 when it has none (or it is disabled).
int pb_landlock_abi(void);

/// A path the task may use, with the Landlock rights it gets beneath it (LANDLOCK_ACCESS_FS_* bits).
/// A path that is not on this machine is skipped.
typedef struct pb_landlock_path {
    const char *path;
    uint64_t access;
} pb_landlock_path;

enum {
    PB_LANDLOCK_READ = (1 << 0) | (1 << 2) | (1 << 3),  // execute, read files, read directories
    PB_LANDLOCK_READ_NO_EXEC = (1 << 2) | (1 << 3),
    PB_LANDLOCK_ALL = -1                                // every right the kernel knows
};

/// What the Landlock layer put in force.
typedef struct pb_landlock_result {
    int abi;
    int rules;
    int tcp_restricted;  // TCP bind/connect limited to the listed ports (ABI >= 4)
    int scoped;          // signals and abstract UNIX sockets limited to the task (ABI >= 6)
} pb_landlock_result;

/// Restricts the calling process (all its threads, and every child) to `paths`; with `restrict_tcp`,
/// TCP connect only to `tcp_ports` and no bind; signals and abstract sockets to its own domain.
/// Needs PR_SET_NO_NEW_PRIVS or CAP_SYS_ADMIN. Returns 0, ENOSYS without Landlock, or errno.
int pb_landlock_confine(const pb_landlock_path *paths, size_t path_count, int restrict_tcp,
                        const uint16_t *tcp_ports, size_t port_count, pb_landlock_result *result);

/// Installs the seccomp deny list on every thread of the process: ptrace, mounts, namespaces (unshare,
/// setns, clone with namespace flags), bpf, perf_event_open, keys, kexec, modules, reboot, swap, acct,
/// userfaultfd, process_vm_*, open_by_handle_at, io_uring, setting the clock. A denied call raises SIGSYS
/// (see pb_report_refused_calls); clone3 answers ENOSYS (glibc falls back to clone); another architecture's
/// calls kill the process. With `deny_inet_sockets`, socket() of any family but AF_UNIX fails with EACCES.
/// Sets PR_SET_NO_NEW_PRIVS. Returns 0 or errno.
int pb_seccomp_confine(int deny_inet_sockets);

/// The two parts of pb_seccomp_confine, as two stacked filters: the deny list (what a zygote installs once
/// for all its children, which inherit it) and the socket rule (per task, when no network is declared).
int pb_seccomp_deny_list(void);
int pb_seccomp_deny_inet_sockets(void);

/// The name of a call the seccomp filter refuses ("ptrace"), or NULL for any other number.
const char *pb_denied_call_name(long number);

/// 1 when the kernel accepts seccomp filters, else 0.
int pb_seccomp_available(void);

/// Makes a SIGSYS from the seccomp filter write "patchbay-runner: refused system call NR" to stderr and
/// then end the process with SIGSYS, so the host can name the call. Returns 0 or errno.
int pb_report_refused_calls(void);

#endif
