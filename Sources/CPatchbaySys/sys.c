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

int pb_set_process_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0) == 0 ? 0 : errno;
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

// ---- the zygote: one pre-started runner that forks a child per task ----

#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

int pb_zygote_next(int control, int descriptors[4]) {
    char byte;
    struct iovec io = { .iov_base = &byte, .iov_len = 1 };
    union { char buffer[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } control_buffer;
    struct msghdr message = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = control_buffer.buffer,
                              .msg_controllen = sizeof control_buffer.buffer };
    ssize_t n;
    do { n = recvmsg(control, &message, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n <= 0) return -1;
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    if (!header || header->cmsg_type != SCM_RIGHTS || header->cmsg_len != CMSG_LEN(4 * sizeof(int))) return -2;
    memcpy(descriptors, CMSG_DATA(header), 4 * sizeof(int));
    return 0;
}

pid_t pb_clone_as_sibling(void) {
    // CLONE_PARENT: the child is the host's child, not the zygote's, so the host waits for it, reads its
    // rusage and gets SIGCHLD exactly as for a spawned runner.
    return (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
}

int pb_zygote_child_setup(const int descriptors[4]) {
    if (setsid() < 0) return errno;
    prctl(PR_SET_NAME, "patchbay-runner", 0, 0, 0);  /* as a spawned runner is named; the zygote is pb-zygote */
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    // Dispositions need no reset here: the zygote reset them all once (pb_reset_signal_dispositions) and sets none.
    // Move the four out of the way, then into place: socket 3, cancel pipe 4, stdout 1, stderr 2.
    int high[4];
    for (int i = 0; i < 4; i++) {
        high[i] = fcntl(descriptors[i], F_DUPFD_CLOEXEC, 64);
        if (high[i] < 0) return errno;
    }
    const int targets[4] = { 3, 4, 1, 2 };
    for (int i = 0; i < 4; i++) if (dup2(high[i], targets[i]) < 0) return errno;
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0) return errno;
    if (syscall(SYS_close_range, 5, ~0U, 0) != 0) {
        for (int fd = 5; fd < 4096; fd++) close(fd);
    }
    return 0;
}

void pb_reset_signal_dispositions(void) {
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
}

int pb_zygote_reply(int control, pid_t pid) {
    ssize_t n;
    // MSG_NOSIGNAL: with default dispositions, a host gone away must end the zygote by its next read, not by SIGPIPE.
    do { n = send(control, &pid, sizeof pid, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n == sizeof pid ? 0 : errno;
}

int pb_zygote_request(int control, const int descriptors[4], pid_t *pid) {
    char byte = 'S';
    struct iovec io = { .iov_base = &byte, .iov_len = 1 };
    union { char buffer[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } control_buffer;
    memset(&control_buffer, 0, sizeof control_buffer);
    struct msghdr message = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = control_buffer.buffer,
                              .msg_controllen = sizeof control_buffer.buffer };
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(4 * sizeof(int));
    memcpy(CMSG_DATA(header), descriptors, 4 * sizeof(int));
    ssize_t n;
    do { n = sendmsg(control, &message, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    if (n != 1) return n < 0 ? errno : EIO;
    do { n = read(control, pid, sizeof *pid); } while (n < 0 && errno == EINTR);
    if (n != sizeof *pid) return n < 0 ? errno : EPIPE;
    return *pid > 0 ? 0 : ECHILD;
}
