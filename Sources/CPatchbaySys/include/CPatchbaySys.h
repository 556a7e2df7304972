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

#endif
