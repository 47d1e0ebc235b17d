/* rrr-jail: the first link of rrr's sandbox chain (rrr_cli/execution/sandbox.py compiles and runs it).

   rrr-jail [--uid=N --gid=N] [--userns] [--cpu=SOFT:HARD] [--data=B] [--fsize=B] [--nofile=N]
            [--core=N] [--nproc=N] -- COMMAND [ARG...]

   In this order: drop to uid/gid N (and no supplementary groups); with --userns, enter a user
   namespace of its own that maps only that uid and gid, so that the kernel counts RLIMIT_NPROC for
   this sandbox alone; set the limits (VALUE or SOFT:HARD); exec COMMAND (searched on PATH).
   Any failure prints one line and exits 127 before COMMAND runs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static const struct { const char *name; int resource; } LIMITS[] = {
    {"--cpu", RLIMIT_CPU}, {"--data", RLIMIT_DATA}, {"--fsize", RLIMIT_FSIZE},
    {"--nofile", RLIMIT_NOFILE}, {"--core", RLIMIT_CORE}, {"--nproc", RLIMIT_NPROC},
};
#define NLIMITS (sizeof LIMITS / sizeof LIMITS[0])

static int fail(const char *what, const char *arg) {
    dprintf(2, "rrr-jail: %s%s: %s\n", what, arg, strerror(errno));
    return 127;
}

static int parse_limit(const char *value, struct rlimit *rl) {
    char *end;
    errno = 0;
    rl->rlim_cur = rl->rlim_max = strtoull(value, &end, 10);
    if (*end == ':') rl->rlim_max = strtoull(end + 1, &end, 10);
    if (errno || *end || end == value) { errno = EINVAL; return -1; }
    return 0;
}

static int parse_id(const char *value, long *id) {
    char *end;
    errno = 0;
    *id = strtol(value, &end, 10);
    if (errno || *end || end == value || *id < 0) { errno = EINVAL; return -1; }
    return 0;
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

int main(int argc, char **argv) {
    long uid = -1, gid = -1;
    int userns = 0, set[NLIMITS] = {0}, i = 1;
    struct rlimit limits[NLIMITS];
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        const char *arg = argv[i], *eq = strchr(arg, '=');
        size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        size_t k;
        if (!eq && !strcmp(arg, "--userns")) { userns = 1; continue; }
        if (!eq) { errno = EINVAL; return fail("bad option ", arg); }
        if (n == 5 && (!strncmp(arg, "--uid", 5) || !strncmp(arg, "--gid", 5))) {
            if (parse_id(eq + 1, arg[2] == 'u' ? &uid : &gid)) return fail("bad option ", arg);
            continue;
        }
        for (k = 0; k < NLIMITS; k++)
            if (strlen(LIMITS[k].name) == n && !strncmp(arg, LIMITS[k].name, n)) break;
        if (k == NLIMITS || parse_limit(eq + 1, &limits[k])) { errno = EINVAL; return fail("bad option ", arg); }
        set[k] = 1;
    }
    if (i + 1 >= argc) { errno = EINVAL; return fail("usage: rrr-jail [--OPTION=VALUE...] -- COMMAND", ""); }
    if (gid >= 0 && (setgroups(0, NULL) || setresgid(gid, gid, gid))) return fail("setgid", "");
    if (uid >= 0 && setresuid(uid, uid, uid)) return fail("setuid", "");
    if (userns) {
        char map[64];
        unsigned me = getuid(), group = getgid();
        /* Changing uid made this process non-dumpable, which gives its /proc files to root. */
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)) return fail("prctl", "");
        if (unshare(CLONE_NEWUSER)) return fail("unshare user namespace", "");
        if (write_file("/proc/self/setgroups", "deny")) return fail("setgroups deny", "");
        snprintf(map, sizeof map, "%u %u 1\n", me, me);
        if (write_file("/proc/self/uid_map", map)) return fail("uid_map", "");
        snprintf(map, sizeof map, "%u %u 1\n", group, group);
        if (write_file("/proc/self/gid_map", map)) return fail("gid_map", "");
    }
    for (size_t k = 0; k < NLIMITS; k++)
        if (set[k] && setrlimit(LIMITS[k].resource, &limits[k])) return fail("setrlimit ", LIMITS[k].name);
    execvp(argv[i + 1], argv + i + 1);
    return fail("exec ", argv[i + 1]);
}
