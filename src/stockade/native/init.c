/*
 * stockade-init: pid 1 of every Stockade container, and the wrapper of every exec.
 *
 *   init [-w DIR]... [-x DIR]... [-d DIR]... [-N [-b PORTS]... [-C [-c PORTS]...]]
 *        [-L] [-S] [-e] -- PROGRAM [ARG]...
 *
 *   -w DIR    the application may read and write beneath DIR
 *   -x DIR    the application may read and execute beneath DIR
 *   -d DIR    device directory: read, write and device ioctls, no creation
 *   -N        limit TCP bind (Landlock ABI 4+): only the -b ports may be bound
 *   -b PORTS  a port or LOW-HIGH range the application may bind
 *   -C        limit TCP connect too: only the -c ports may be connected to
 *   -c PORTS  a port or LOW-HIGH range the application may connect to
 *   -L        do not apply Landlock (only when the platform was told to run unsafe)
 *   -S        the i386 ABI is admitted: stack a seccomp filter refusing socketcall's
 *             SYS_SOCKET and SYS_SOCKETPAIR (EPERM)
 *   -e        exec mode: restrict and exec, no pid-1 duties (used for `stockade exec`)
 *
 * Everything else is readable and nothing else is writable or executable. The ruleset
 * uses the highest Landlock ABI the kernel offers. If Landlock was asked for and cannot
 * be applied (or its network part was asked for on a kernel without it), the init
 * refuses to start the application (fail closed). On ABI 7+ the application's denials
 * are audited too (LOG_NEW_EXEC_ON), so the daemon can report them as container events.
 *
 * As pid 1 it forks the application, forwards every signal it receives to it, reaps
 * every orphan, and exits with the application's status (128+N for a signal N).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RULES 256
#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_REMOVE_DIR (1ULL << 4)
#define FS_REMOVE_FILE (1ULL << 5)
#define FS_MAKE_CHAR (1ULL << 6)
#define FS_MAKE_DIR (1ULL << 7)
#define FS_MAKE_REG (1ULL << 8)
#define FS_MAKE_SOCK (1ULL << 9)
#define FS_MAKE_FIFO (1ULL << 10)
#define FS_MAKE_BLOCK (1ULL << 11)
#define FS_MAKE_SYM (1ULL << 12)
#define FS_REFER (1ULL << 13)    /* ABI 2 */
#define FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#define FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define FILE_RIGHTS (FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV)
#define READ (FS_READ_FILE | FS_READ_DIR)
#define WRITE (READ | FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR | \
               FS_MAKE_REG | FS_MAKE_SOCK | FS_MAKE_FIFO | FS_MAKE_SYM | FS_REFER | FS_TRUNCATE)
#define DEVICE (READ | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV)
#define NET_BIND_TCP (1ULL << 0)    /* ABI 4 */
#define NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */
#define NET_ABI 4
#define RULE_NET_PORT 2 /* LANDLOCK_RULE_NET_PORT */
#define LOG_ABI 7
#define LOG_NEW_EXEC_ON (1U << 1) /* LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON, ABI 7 */
#define MAX_RANGES 1024

/* Our own layouts of the ABI 4 structures: the distribution's kernel headers may predate
 * them. A larger attr with zero trailing fields is accepted by older kernels. */
struct ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
};

struct net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

struct rule {
	const char *path;
	uint64_t access;
};

struct port_range {
	unsigned long low, high;
	uint64_t access;
};

struct net_policy {
	uint64_t handled; /* 0: the network part is not asked for */
	int count;
	struct port_range ranges[MAX_RANGES];
};

static void die(const char *what)
{
	fprintf(stderr, "stockade-init: %s: %s\n", what, strerror(errno));
	exit(126);
}

/* Every filesystem right the running kernel's ABI knows, so none is left unhandled. */
static uint64_t handled_for_abi(int abi)
{
	uint64_t rights = (FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */
	if (abi >= 2)
		rights |= FS_REFER;
	if (abi >= 3)
		rights |= FS_TRUNCATE;
	if (abi >= 5)
		rights |= FS_IOCTL_DEV;
	return rights;
}

/* openat2's layout, ours: the distribution's headers may lack <linux/openat2.h>. */
struct open_how_attr {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* A rule path is opened below "/" without following any symlink: an image whose /tmp is
 * a symlink to / must not turn "write beneath /tmp" into "write beneath /". A rule whose
 * path holds a symlink grants nothing (its target, if it should be allowed, has its own). */
static int open_rule_path(const char *path)
{
	struct open_how_attr how = {.flags = O_PATH | O_CLOEXEC,
				    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
					       RESOLVE_NO_MAGICLINKS};
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		die("/");
	while (*path == '/')
		path++;
	int fd = *path ? (int)syscall(SYS_openat2, root, path, &how, sizeof(how))
		       : dup(root);
	int saved = errno;
	close(root);
	errno = saved;
	return fd;
}

static void add_rule(int ruleset, const struct rule *r, uint64_t handled)
{
	struct landlock_path_beneath_attr attr = {0};
	struct stat st;
	int fd = open_rule_path(r->path);
	if (fd < 0) {
		if (errno == ENOENT)
			return; /* the image lacks this directory: nothing to allow */
		if (errno == ELOOP || errno == EXDEV) {
			fprintf(stderr, "stockade-init: %s holds a symlink: no access granted "
				"through it\n", r->path);
			return;
		}
		die(r->path);
	}
	if (fstat(fd, &st) != 0)
		die(r->path);
	attr.parent_fd = fd;
	attr.allowed_access = r->access & handled;
	if (!S_ISDIR(st.st_mode))
		attr.allowed_access &= FILE_RIGHTS;
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) != 0)
		die(r->path);
	close(fd);
}

/* One rule per port: Landlock has no port ranges. Rules for one port merge their rights. */
static void add_port_rules(int ruleset, const struct net_policy *net)
{
	for (int i = 0; i < net->count; i++) {
		struct net_port_attr attr = {.allowed_access = net->ranges[i].access & net->handled};
		if (!attr.allowed_access)
			continue;
		for (unsigned long port = net->ranges[i].low; port <= net->ranges[i].high; port++) {
			attr.port = port;
			if (syscall(SYS_landlock_add_rule, ruleset, RULE_NET_PORT, &attr, 0) != 0)
				die("landlock_add_rule (port)");
		}
	}
}

static void restrict_self(const struct rule *rules, int count, const struct net_policy *net)
{
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
			       LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		die("Landlock is required but unavailable");
	if (net->handled && abi < NET_ABI) {
		fprintf(stderr, "stockade-init: Landlock ABI %d has no network rules (needs %d)\n",
			abi, NET_ABI);
		exit(126);
	}
	struct ruleset_attr attr = {.handled_access_fs = handled_for_abi(abi),
				    .handled_access_net = net->handled};
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0)
		die("landlock_create_ruleset");
	for (int i = 0; i < count; i++)
		add_rule(ruleset, &rules[i], attr.handled_access_fs);
	add_port_rules(ruleset, net);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		die("no_new_privs");
	/* Denials are audited only for the executable that restricted itself unless asked:
	 * ask, so the daemon can tell users what the application was refused. Older kernels
	 * reject unknown flags. */
	unsigned int flags = abi >= LOG_ABI ? LOG_NEW_EXEC_ON : 0;
	if (syscall(SYS_landlock_restrict_self, ruleset, flags) != 0)
		die("landlock_restrict_self");
	close(ruleset);
}

#define I386_SOCKETCALL 102
#define SOCKETCALL_SOCKET 1
#define SOCKETCALL_SOCKETPAIR 8

/* With i386 admitted, runc's filter lets socketcall(SYS_SOCKET) through for every family:
 * libseccomp cannot follow the family into memory, and a refusing rule loses to the allow
 * it generates. Stacked filters answer with the strictest result, so this one refuses
 * both sub-calls outright; 32-bit programs then open sockets through the direct socket(2)
 * call, where the family rules hold. Runs under runc's no_new_privs. */
static void guard_socketcall(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_SOCKETCALL, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCKETCALL_SOCKET, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCKETCALL_SOCKETPAIR, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
		die("seccomp socketcall guard");
}

static int exit_code(int status)
{
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* Block every signal here; the loop below receives them synchronously. */
static pid_t spawn(char **argv, const sigset_t *old)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		/* Take the terminal while SIGTTOU is still blocked, or the child would stop. */
		if (isatty(STDIN_FILENO) && setpgid(0, 0) == 0)
			tcsetpgrp(STDIN_FILENO, getpid()); /* Ctrl-C reaches the application */
		sigprocmask(SIG_SETMASK, old, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "stockade-init: exec %s: %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	return pid;
}

static int supervise(pid_t child)
{
	sigset_t all;
	sigfillset(&all);
	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(&all, &info);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (pid == child)
				return exit_code(status); /* the kernel ends the rest of the pid namespace */
	}
}

/* "PORT" or "LOW-HIGH", 1..65535; anything else is refused rather than guessed at. */
static int add_range(struct net_policy *net, const char *text, uint64_t access)
{
	char *end;
	if (net->count >= MAX_RANGES || text[0] < '0' || text[0] > '9')
		return -1;
	unsigned long low = strtoul(text, &end, 10), high = low;
	if (*end == '-') {
		if (end[1] < '0' || end[1] > '9')
			return -1;
		high = strtoul(end + 1, &end, 10);
	}
	if (*end != '\0' || low < 1 || low > high || high > 65535)
		return -1;
	net->ranges[net->count++] = (struct port_range){low, high, access};
	return 0;
}

static int add_path(struct rule *rules, int *count, const char *path, uint64_t access)
{
	if (*count >= MAX_RULES)
		return -1;
	rules[(*count)++] = (struct rule){path, access};
	return 0;
}

int main(int argc, char **argv)
{
	static struct net_policy net;
	struct rule rules[MAX_RULES];
	int count = 0, landlock = 1, exec_mode = 0, guard = 0, bad = 0, opt;
	rules[count++] = (struct rule){"/", READ};
	while ((opt = getopt(argc, argv, "+w:x:d:Nb:Cc:LSe")) != -1) {
		switch (opt) {
		case 'w': bad |= add_path(rules, &count, optarg, WRITE); break;
		case 'x': bad |= add_path(rules, &count, optarg, READ | FS_EXECUTE); break;
		case 'd': bad |= add_path(rules, &count, optarg, DEVICE); break;
		case 'N': net.handled |= NET_BIND_TCP; break;
		case 'b': bad |= add_range(&net, optarg, NET_BIND_TCP); break;
		case 'C': net.handled |= NET_CONNECT_TCP; break;
		case 'c': bad |= add_range(&net, optarg, NET_CONNECT_TCP); break;
		case 'L': landlock = 0; break;
		case 'S': guard = 1; break;
		case 'e': exec_mode = 1; break;
		default: return 126;
		}
		if (bad) {
			fprintf(stderr, "stockade-init: bad or too many rules at -%c %s\n", opt,
				optarg ? optarg : "");
			return 126;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: %s [-w DIR] [-x DIR] [-d DIR] [-N [-b PORTS] [-C [-c PORTS]]] "
			"[-L] [-S] [-e] -- PROGRAM...\n", argv[0]);
		return 126;
	}
	if (landlock)
		restrict_self(rules, count, &net);
	if (guard)
		guard_socketcall();
	if (exec_mode) {
		execvp(argv[optind], &argv[optind]);
		fprintf(stderr, "stockade-init: exec %s: %s\n", argv[optind], strerror(errno));
		return errno == ENOENT ? 127 : 126;
	}
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	return supervise(spawn(&argv[optind], &old));
}
