// The runner's kernel-enforced layers: Landlock (filesystem, TCP, signal and abstract-socket scopes),
// a seccomp-bpf deny list, and the SIGSYS reporter that names a refused system call. Each is applied by
// the runner to itself, after it dropped to its task's uid and before any connector code is mapped.
#define _GNU_SOURCE
#include "CPatchbaySys.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// ---- Landlock (uapi constants defined here: the build machine's headers may predate them) ----

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

#define PB_LL_CREATE_RULESET_VERSION (1U << 0)
#define PB_LL_RULE_PATH_BENEATH 1
#define PB_LL_RULE_NET_PORT 2
#define PB_LL_FS_EXECUTE (1ULL << 0)
#define PB_LL_FS_WRITE_FILE (1ULL << 1)
#define PB_LL_FS_READ_FILE (1ULL << 2)
#define PB_LL_FS_TRUNCATE (1ULL << 14)
#define PB_LL_FS_IOCTL_DEV (1ULL << 15)
#define PB_LL_NET_BIND_TCP (1ULL << 0)
#define PB_LL_NET_CONNECT_TCP (1ULL << 1)
#define PB_LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define PB_LL_SCOPE_SIGNAL (1ULL << 1)

struct pb_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct pb_ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

struct pb_ll_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

int pb_landlock_abi(void) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, PB_LL_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

/// Every filesystem right the running kernel's Landlock knows.
static uint64_t handled_fs(int abi) {
    uint64_t all = (1ULL << 13) - 1;          // ABI 1: execute … make_sym
    if (abi >= 2) all |= 1ULL << 13;          // refer
    if (abi >= 3) all |= PB_LL_FS_TRUNCATE;
    if (abi >= 5) all |= PB_LL_FS_IOCTL_DEV;
    return all;
}

int pb_landlock_confine(const pb_landlock_path *paths, size_t path_count, int restrict_tcp,
                        const uint16_t *tcp_ports, size_t port_count, pb_landlock_result *result) {
    memset(result, 0, sizeof *result);
    int abi = pb_landlock_abi();
    result->abi = abi;
    if (abi <= 0) return ENOSYS;
    struct pb_ll_ruleset_attr attr = { .handled_access_fs = handled_fs(abi) };
    size_t size = sizeof attr.handled_access_fs;
    if (abi >= 4) {
        size = offsetof(struct pb_ll_ruleset_attr, scoped);
        if (restrict_tcp) attr.handled_access_net = PB_LL_NET_BIND_TCP | PB_LL_NET_CONNECT_TCP;
        result->tcp_restricted = restrict_tcp != 0;
    }
    if (abi >= 6) {
        size = sizeof attr;
        attr.scoped = PB_LL_SCOPE_ABSTRACT_UNIX_SOCKET | PB_LL_SCOPE_SIGNAL;
        result->scoped = 1;
    }
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) return errno;
    const uint64_t file_rights = PB_LL_FS_EXECUTE | PB_LL_FS_WRITE_FILE | PB_LL_FS_READ_FILE
        | (abi >= 3 ? PB_LL_FS_TRUNCATE : 0) | (abi >= 5 ? PB_LL_FS_IOCTL_DEV : 0);
    for (size_t i = 0; i < path_count; i++) {
        int fd = open(paths[i].path, O_PATH | O_CLOEXEC);
        if (fd < 0) continue;  // not on this machine: nothing to allow
        struct stat info;
        uint64_t access = paths[i].access & attr.handled_access_fs;
        if (fstat(fd, &info) == 0 && !S_ISDIR(info.st_mode)) access &= file_rights;
        struct pb_ll_path_beneath_attr rule = { .allowed_access = access, .parent_fd = fd };
        long added = access == 0 ? 0 : syscall(SYS_landlock_add_rule, ruleset, PB_LL_RULE_PATH_BENEATH, &rule, 0);
        int saved = errno;
        close(fd);
        if (added != 0) { close(ruleset); return saved; }
        result->rules++;
    }
    if (abi >= 4 && restrict_tcp) {
        for (size_t i = 0; i < port_count; i++) {
            struct pb_ll_net_port_attr rule = { .allowed_access = PB_LL_NET_CONNECT_TCP, .port = tcp_ports[i] };
            if (syscall(SYS_landlock_add_rule, ruleset, PB_LL_RULE_NET_PORT, &rule, 0) != 0) {
                int saved = errno;
                close(ruleset);
                return saved;
            }
        }
    }
    long restricted = syscall(SYS_landlock_restrict_self, ruleset, 0);
    int saved = errno;
    close(ruleset);
    return restricted == 0 ? 0 : saved;
}

// ---- seccomp ----

#if defined(__x86_64__)
#define PB_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/// What no connector needs: the deny list, after Docker's default profile and systemd's @system-service.
/// Each ends the task with SIGSYS, which the reporter names.
#define DENY(call) { SYS_##call, #call }
static const struct { int number; const char *name; } denied_calls[] = {
    DENY(ptrace), DENY(process_vm_readv), DENY(process_vm_writev), DENY(kcmp),
    DENY(mount), DENY(umount2), DENY(pivot_root), DENY(chroot), DENY(unshare), DENY(setns),
    DENY(open_tree), DENY(move_mount), DENY(fsopen), DENY(fsconfig), DENY(fsmount), DENY(fspick), DENY(mount_setattr),
    DENY(bpf), DENY(perf_event_open), DENY(userfaultfd),
    DENY(keyctl), DENY(add_key), DENY(request_key),
    DENY(kexec_load), DENY(kexec_file_load), DENY(init_module), DENY(finit_module), DENY(delete_module),
    DENY(reboot), DENY(swapon), DENY(swapoff), DENY(acct), DENY(quotactl),
    DENY(open_by_handle_at), DENY(name_to_handle_at),
    DENY(io_uring_setup), DENY(io_uring_enter), DENY(io_uring_register),
    DENY(settimeofday), DENY(clock_settime), DENY(clock_adjtime), DENY(adjtimex),
#if defined(__x86_64__)
    DENY(iopl), DENY(ioperm), DENY(lookup_dcookie), DENY(uselib),
#endif
};
#undef DENY


/// Namespace flags: a clone that asks for any of them is refused like unshare.
#define PB_NAMESPACE_FLAGS (CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP)

static int install_filter(struct sock_filter *program, size_t n) {
    struct sock_fprog filter = { .len = (unsigned short)n, .filter = program };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &filter) != 0) return errno;
    return 0;
}

#define EMIT(code, k, jt, jf) (program[n++] = (struct sock_filter)BPF_JUMP((code), (k), (jt), (jf)))
#define STMT(code, k) (program[n++] = (struct sock_filter)BPF_STMT((code), (k)))

int pb_seccomp_deny_list(void) {
#ifndef PB_AUDIT_ARCH
    return ENOSYS;
#else
    enum { DENIED = sizeof denied_calls / sizeof denied_calls[0] };
    struct sock_filter program[DENIED * 2 + 24];
    size_t n = 0;
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, PB_AUDIT_ARCH, 1, 0);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
    EMIT(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);  // the x32 ABI: another syscall table
    STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
#endif
    for (size_t i = 0; i < DENIED; i++) {
        EMIT(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)denied_calls[i].number, 0, 1);
        STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
    }
    // clone3's flags are behind a pointer a filter cannot read: answer ENOSYS and glibc falls back to clone.
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
    // clone with a namespace flag (x86_64 and aarch64 both pass the flags first).
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3);
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
    EMIT(BPF_JMP | BPF_JSET | BPF_K, PB_NAMESPACE_FLAGS, 0, 1);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    return install_filter(program, n);
#endif
}

int pb_seccomp_deny_inet_sockets(void) {
#ifndef PB_AUDIT_ARCH
    return ENOSYS;
#else
    // No network declared: only local (AF_UNIX) sockets. A refusal the connector can handle: EACCES.
    // (A call of another architecture never gets here: the deny list, installed first, kills it.)
    struct sock_filter program[8];
    size_t n = 0;
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 3);
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 1, 0);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    return install_filter(program, n);
#endif
}

#undef EMIT
#undef STMT

int pb_seccomp_confine(int deny_inet_sockets) {
    int status = pb_seccomp_deny_list();
    if (status == 0 && deny_inet_sockets) status = pb_seccomp_deny_inet_sockets();
    return status;
}

const char *pb_denied_call_name(long number) {
    for (size_t i = 0; i < sizeof denied_calls / sizeof denied_calls[0]; i++) {
        if (denied_calls[i].number == number) return denied_calls[i].name;
    }
    if (number == SYS_clone) return "clone (with a namespace flag)";
    return NULL;
}

int pb_seccomp_available(void) {
    return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 ? 1 : 0;
}

// ---- the SIGSYS reporter ----

static void report_refused_call(int signal_number, siginfo_t *info, void *context) {
    (void)context;
    char line[96] = "patchbay-runner: refused system call ";
    size_t n = strlen(line);
    char digits[16];
    size_t d = 0;
    unsigned value = info ? (unsigned)info->si_syscall : 0;
    do { digits[d++] = (char)('0' + value % 10); value /= 10; } while (value && d < sizeof digits);
    while (d) line[n++] = digits[--d];
    line[n++] = '\n';
    ssize_t ignored = write(2, line, n);
    (void)ignored;
    // Die of the signal itself, so the host sees SIGSYS: the default action, raised again on return.
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

int pb_report_refused_calls(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = report_refused_call;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGSYS, &action, NULL) == 0 ? 0 : errno;
}
