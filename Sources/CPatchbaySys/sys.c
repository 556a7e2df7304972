#define _GNU_SOURCE
#include "CPatchbaySys.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int pb_set_parent_death_signal(int signal_number) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal_number, 0, 0, 0) == 0 ? 0 : errno;
}

int pb_set_no_new_privileges(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : errno;
}

int pb_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int pb_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
}

int pb_wakeup_descriptor(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int pb_set_limit(int which, uint64_t value) {
    int resource;
    switch (which) {
    case PB_LIMIT_ADDRESS_SPACE: resource = RLIMIT_AS; break;
    case PB_LIMIT_CPU_SECONDS: resource = RLIMIT_CPU; break;
    case PB_LIMIT_OPEN_FILES: resource = RLIMIT_NOFILE; break;
    case PB_LIMIT_PROCESSES: resource = RLIMIT_NPROC; break;
    case PB_LIMIT_CORE_SIZE: resource = RLIMIT_CORE; break;
    case PB_LIMIT_FILE_SIZE: resource = RLIMIT_FSIZE; break;
    default: return EINVAL;
    }
    struct rlimit limit = { (rlim_t)value, (rlim_t)value };
    return setrlimit(resource, &limit) == 0 ? 0 : errno;
}

enum { PB_MAX_MAPPINGS = 16, PB_HIGH_FD = 100 };

int pb_spawn(const char *path, char *const argv[], char *const envp[],
             const pb_fd_mapping *mappings, size_t mapping_count, pid_t *out_pid) {
    if (mapping_count > PB_MAX_MAPPINGS) return EINVAL;
    int high[PB_MAX_MAPPINGS];
    size_t made = 0;
    int result = 0;
    int stdin_mapped = 0;
    int max_target = 2;

    // Move every source above every target, so dup2 never clobbers a source.
    for (; made < mapping_count; made++) {
        high[made] = fcntl(mappings[made].source, F_DUPFD_CLOEXEC, PB_HIGH_FD);
        if (high[made] < 0) { result = errno; goto done; }
        if (mappings[made].target == 0) stdin_mapped = 1;
        if (mappings[made].target > max_target) max_target = mappings[made].target;
    }

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    if ((result = posix_spawn_file_actions_init(&actions)) != 0) goto done;
    if ((result = posix_spawnattr_init(&attributes)) != 0) {
        posix_spawn_file_actions_destroy(&actions);
        goto done;
    }
    if (!stdin_mapped) {
        result = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    }
    for (size_t i = 0; result == 0 && i < mapping_count; i++) {
        result = posix_spawn_file_actions_adddup2(&actions, high[i], mappings[i].target);
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    if (result == 0) result = posix_spawn_file_actions_addclosefrom_np(&actions, max_target + 1);
#endif
    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    if (result == 0) result = posix_spawnattr_setsigmask(&attributes, &empty);
    if (result == 0) result = posix_spawnattr_setsigdefault(&attributes, &all);
    if (result == 0) {
        result = posix_spawnattr_setflags(&attributes,
            POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    }
    if (result == 0) result = posix_spawn(out_pid, path, &actions, &attributes, argv, envp);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
done:
    for (size_t i = 0; i < made; i++) close(high[i]);
    return result;
}

// ---- reading what a runner produced, trusting nothing ----

#include <linux/openat2.h>
#include <sys/stat.h>

int pb_open_beneath(int directory, const char *path) {
    struct open_how how = {
        .flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    long fd = syscall(SYS_openat2, directory, path, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

int pb_csv_records(int fd, uint64_t *records) {
    char buffer[1 << 16];
    uint64_t count = 0;
    int quoted = 0, pending = 0;
    off_t offset = 0;
    for (;;) {
        ssize_t n = pread(fd, buffer, sizeof buffer, offset);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) break;
        offset += n;
        for (ssize_t i = 0; i < n; i++) {
            char c = buffer[i];
            if (c == '"') quoted = !quoted;
            else if (c == '\n' && !quoted) { count++; pending = 0; continue; }
            pending = 1;
        }
    }
    *records = count + (pending ? 1 : 0);
    return quoted ? EINVAL : 0;
}
