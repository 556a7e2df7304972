/* test.hostile — a connector that wants out. Written from the header alone, as a third party would.
 *
 * With {"attack": "probe"} it tries everything that does not end the task and reports each attempt as an
 * output: "denied (<reason>)" or "ALLOWED (<what it got>)". Parameters name what to go for:
 *   key      the project's master key (absolute path)      project  the project directory
 *   victim   a file in another task's workspace            proc     a file relative to the host's cwd
 *   port     a TCP port on 127.0.0.1 that accepts
 * Other attacks end the task: "ptrace", "mount", "bpf", "unshare" (each a refused system call),
 * "kill_parent" (SIGKILL to the host, then run on), "daemon" (a child that leaves the session).
 * Not an attack: "signals" fails naming every signal whose disposition is not the default (a task starts with all).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "patchbay/connector.h"
#include "patchbay/params.h"

static const patchbay_host *host;

static void report(patchbay_task *task, const char *name, int allowed, const char *detail) {
    char value[256];
    snprintf(value, sizeof value, "%s (%s)", allowed ? "ALLOWED" : "denied", detail);
    host->set_output(task, patchbay_cstr(name), patchbay_cstr(value), 0);
}

/* Tries to read a file; reports what happened. */
static void try_read(patchbay_task *task, const char *name, const char *path) {
    if (!path[0]) return;
    int fd = open(path, O_RDONLY);
    if (fd < 0) { report(task, name, 0, strerror(errno)); return; }
    char buffer[64];
    ssize_t n = read(fd, buffer, sizeof buffer);
    close(fd);
    char what[64];
    if (n < 0) { report(task, name, 0, strerror(errno)); return; }
    snprintf(what, sizeof what, "read %zd bytes", n);
    report(task, name, 1, what);
}

static void try_write(patchbay_task *task, const char *name, const char *path) {
    if (!path[0]) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { report(task, name, 0, strerror(errno)); return; }
    close(fd);
    unlink(path);
    report(task, name, 1, "created a file");
}

static void text(patchbay_task *task, const char *key, char *out, size_t cap) {
    if (patchbay_params_get(host->parameters(task), key, out, cap) != PATCHBAY_PARAM_FOUND) out[0] = 0;
}

static void probe_everything(patchbay_task *task) {
    char key[1024], project[1024], victim[1024], proc[1024], port_text[16], path[2200];
    text(task, "key", key, sizeof key);
    text(task, "project", project, sizeof project);
    text(task, "victim", victim, sizeof victim);
    text(task, "proc", proc, sizeof proc);
    text(task, "port", port_text, sizeof port_text);

    try_read(task, "read_key", key);
    snprintf(path, sizeof path, "/proc/%d/cwd/%s", (int)getppid(), proc);
    if (proc[0]) try_read(task, "read_host_cwd", path);
    snprintf(path, sizeof path, "/proc/%d/environ", (int)getppid());
    try_read(task, "read_host_environ", path);
    /* Walking up from the workspace: the first master.key found on the way. */
    int found = 0;
    for (int depth = 1; depth <= 8 && !found; depth++) {
        char walk[256] = "";
        for (int i = 0; i < depth; i++) strcat(walk, "../");
        char candidate[320];
        snprintf(candidate, sizeof candidate, "%smaster.key", walk);
        if (access(candidate, F_OK) == 0) { try_read(task, "read_key_walking_up", candidate); found = 1; }
    }
    if (!found) {
        /* Nothing reachable on the way up (or the way up is closed): say why the parent cannot be listed. */
        int fd = open("..", O_RDONLY | O_DIRECTORY);
        if (fd < 0) report(task, "read_key_walking_up", 0, strerror(errno)); else { close(fd); report(task, "read_key_walking_up", 0, "not found"); }
    }
    try_read(task, "read_shadow", "/etc/shadow");
    try_read(task, "read_victim", victim);
    if (project[0]) { snprintf(path, sizeof path, "%s/pwned.txt", project); try_write(task, "write_project", path); }
    try_write(task, "write_tmp", "/tmp/patchbay-hostile-was-here");

    errno = 0;
    int signalled = kill(getppid(), 0);
    report(task, "signal_host", signalled == 0, signalled == 0 ? "kill(ppid, 0) succeeded" : strerror(errno));

    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
        report(task, "open_socket", 0, strerror(errno));
    } else {
        struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port_text)) };
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int connected = port_text[0] ? connect(s, (struct sockaddr *)&address, sizeof address) : -1;
        report(task, "open_socket", connected == 0, connected == 0 ? "connected" : strerror(errno));
        close(s);
    }
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    char attack[64];
    text(task, "attack", attack, sizeof attack);
    if (strcmp(attack, "probe") == 0) { probe_everything(task); return PATCHBAY_OK; }
    if (strcmp(attack, "signals") == 0) {
        char changed[512] = "";
        for (int s = 1; s < NSIG; s++) {
            struct sigaction now;
            if (s == SIGKILL || s == SIGSTOP || sigaction(s, NULL, &now) != 0) continue;
            /* The runner's own: its SIGSYS reporter (seccomp), and SIGXFSZ ignored under a file-size limit. */
            if (s == SIGSYS || s == SIGXFSZ) continue;
            if (now.sa_handler != SIG_DFL && strlen(changed) < sizeof changed - 8)
                snprintf(changed + strlen(changed), sizeof changed - strlen(changed), " %d", s);
        }
        if (!changed[0]) return PATCHBAY_OK;
        char message[600];
        snprintf(message, sizeof message, "signals not at their default:%s", changed);
        host->set_error(error, PATCHBAY_FAILURE_CONFIG, patchbay_cstr(message), patchbay_cstr(""));
        return PATCHBAY_ERROR;
    }
    if (strcmp(attack, "ptrace") == 0) ptrace(PTRACE_ATTACH, getppid(), 0, 0);
    if (strcmp(attack, "mount") == 0) mount("none", "/tmp", "tmpfs", 0, NULL);
    if (strcmp(attack, "bpf") == 0) syscall(SYS_bpf, 0, NULL, 0);
    if (strcmp(attack, "unshare") == 0) unshare(CLONE_NEWUSER);
    if (strcmp(attack, "kill_parent") == 0) {
        int killed = kill(getppid(), SIGKILL);
        char detail[128];
        snprintf(detail, sizeof detail, "%s", killed == 0 ? "kill(ppid, SIGKILL) succeeded" : strerror(errno));
        report(task, "kill_parent", killed == 0, detail);
        return PATCHBAY_OK;
    }
    host->set_error(error, PATCHBAY_FAILURE_CONFIG, patchbay_cstr("the attack returned: it was not stopped"), patchbay_cstr(attack));
    return PATCHBAY_ERROR;
}

#ifdef DECLARED_PORT
/* Built with -DDECLARED_PORT=N: declares outbound TCP to port N (ABI 1.1), and nothing else. */
static const uint16_t declared_ports[] = { DECLARED_PORT };
#endif

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "test.hostile",
    .version = "1.0.0",
    .display_name = "Hostile (test)",
    .description = "Tries to escape its sandbox and reports each attempt.",
    .parameters_schema = "{\"type\":\"object\"}",
    .pattern = PATCHBAY_PATTERN_INITIATION,
    .run = run,
#ifdef DECLARED_PORT
    .network = PATCHBAY_NETWORK_TCP_PORTS,
    .tcp_port_count = 1,
    .tcp_ports = declared_ports,
#endif
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
