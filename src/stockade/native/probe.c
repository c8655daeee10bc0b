/*
 * stockade-probe: the in-container half of `stockade verify`.
 *
 *   probe [-m PATH]... [-r PATH]... [-s PATH]... [-c ADDR:PORT]... [-p PORT]
 *
 *   -m PATH        a path that must be masked (read it: empty or unreadable)
 *   -r PATH        a path that must be read-only (statvfs flag, open for write)
 *   -s PATH        a platform socket that must not be visible (lstat)
 *   -c ADDR:PORT   a TCP destination that egress policy must refuse (connect, close)
 *   -p PORT        a TCP port the spec lets the application neither bind nor connect to:
 *                  bind and connect on loopback (Landlock says EACCES; nothing listens)
 *   -w PATH        a directory the application may write: its mount flags, and whether a
 *                  program written there can be mapped executable (as the loader would)
 *   -X             exit 0 at once (what the memfd execution attempt runs, if it runs)
 *
 * It collects facts and makes the harmless form of every attempt in the escape battery,
 * and prints one record per line, fields separated by tabs:
 *
 *   fact     KEY  VALUE                 a scalar fact
 *   item     LIST VALUE                 one element of a list fact
 *   attempt  NAME ERRNO DETAIL          0 = the call succeeded; else the errno it got,
 *                                       or -N when the attempt was killed by signal N
 *   masked   PATH ERRNO SIZE            bytes (or directory entries) read, if readable
 *   readonly PATH RDONLY ERRNO          statvfs read-only flag; open-for-write errno
 *   device   PATH TYPE MAJOR:MINOR      a device node under /dev
 *   mountflags PATH FLAGS             ro,nosuid,nodev,noexec as set ('-': none), or
 *                                       absent:ERRNO
 *   end      ok                         the probe ran to the end
 *
 * Every attempt is made so that it would change nothing even if it were allowed: calls
 * take invalid or null arguments that the kernel rejects after its permission check,
 * files are opened for writing and closed without a write, a tmpfs mounted by mistake
 * is unmounted at once, and attempts that would change the probe's own state (a new user
 * namespace, chroot) run in a child that exits straight away. The Python side decides
 * what each errno means; this program only reports.
 *
 * Static and libc-independent at run time, so it works in images with no shell or libc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 64
#define WALK_LIMIT 200000
#define CONNECT_TIMEOUT_MS 2000
#define UFFD_USER_MODE_ONLY 1
#define CAP_SYS_ADMIN_BIT 21

static const char *masked[MAX_ARGS], *readonly[MAX_ARGS], *sockets[MAX_ARGS],
	*targets[MAX_ARGS], *writable[MAX_ARGS];
static int n_masked, n_readonly, n_sockets, n_targets, n_writable;
static const char *unlisted_port;
static char scratch[] = "/tmp/.stockade-probe-XXXXXX";
static int have_scratch;

/* ---- output ------------------------------------------------------------------------- */

/* Tabs and newlines separate records, so no value may hold a control character. */
static void clean(char *text)
{
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

static void record(const char *kind, const char *a, const char *fmt, va_list ap)
{
	char value[1024];
	vsnprintf(value, sizeof(value), fmt, ap);
	clean(value);
	printf("%s\t%s\t%s\n", kind, a, value);
}

static void fact(const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record("fact", key, fmt, ap);
	va_end(ap);
}

static void item(const char *list, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record("item", list, fmt, ap);
	va_end(ap);
}

/* `result` is a syscall's return value; errno is read only when it failed. */
static void attempt(const char *name, long result, const char *fmt, ...)
{
	char detail[1024];
	int err = result < 0 ? errno : 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	clean(detail);
	printf("attempt\t%s\t%d\t%s\n", name, err, detail);
}

/* Run fn in a child that exits with the errno it met (0 on success); for attempts that,
 * if allowed, would change the calling process itself. */
static long in_child(long (*fn)(void))
{
	fflush(stdout); /* or the child's copy of the buffer would be printed twice */
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn() < 0 ? errno : 0);
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	if (!WIFEXITED(status)) {
		errno = ECHILD;
		return -1;
	}
	errno = WEXITSTATUS(status);
	return errno ? -1 : 0;
}

static int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	int saved = errno;
	close(fd);
	if (n < 0) {
		errno = saved;
		return -1;
	}
	buf[n] = '\0';
	return (int)n;
}

/* Open for writing and close without writing: the open is the permission check. */
static long open_for_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* ---- identity, credentials, namespaces ---------------------------------------------- */

static void status_facts(void)
{
	static const char *keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
				     "NoNewPrivs", "Seccomp", "Seccomp_filters", NULL};
	char line[512], key[64];
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (!colon || colon - line >= (long)sizeof(key))
			continue;
		snprintf(key, sizeof(key), "status.%.*s", (int)(colon - line), line);
		for (int i = 0; keys[i]; i++)
			if (strcmp(key + 7, keys[i]) == 0)
				fact(key, "%s", colon + 1 + strspn(colon + 1, " \t"));
	}
	fclose(f);
}

static void id_map(const char *path, const char *list)
{
	char line[256];
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long inside, outside, count;
		if (sscanf(line, "%lu %lu %lu", &inside, &outside, &count) == 3)
			item(list, "%lu %lu %lu", inside, outside, count);
	}
	fclose(f);
}

static void identity(void)
{
	static const char *kinds[] = {"pid", "net", "ipc", "uts", "mnt", "user", "cgroup", NULL};
	char link[256], key[32];
	fact("uid", "%d", (int)getuid());
	fact("euid", "%d", (int)geteuid());
	fact("gid", "%d", (int)getgid());
	status_facts();
	id_map("/proc/self/uid_map", "uid_map");
	id_map("/proc/self/gid_map", "gid_map");
	for (int i = 0; kinds[i]; i++) {
		snprintf(key, sizeof(key), "/proc/self/ns/%s", kinds[i]);
		ssize_t n = readlink(key, link, sizeof(link) - 1);
		link[n < 0 ? 0 : n] = '\0';
		snprintf(key, sizeof(key), "ns.%s", kinds[i]);
		fact(key, "%s", n < 0 ? "unreadable" : link);
	}
}

/* ---- processes ------------------------------------------------------------------------ */

static void processes(void)
{
	char cmdline[512];
	int n = read_text("/proc/1/cmdline", cmdline, sizeof(cmdline));
	for (int i = 0; i < n; i++)
		if (cmdline[i] == '\0')
			cmdline[i] = ' ';
	fact("pid1.cmdline", "%s", n < 0 ? "" : cmdline);
	int visible = 0;
	DIR *d = opendir("/proc");
	for (struct dirent *e; d && (e = readdir(d));)
		visible += e->d_name[0] >= '1' && e->d_name[0] <= '9';
	if (d)
		closedir(d);
	fact("proc.visible", "%d", visible);
}

/* ---- mandatory access control ---------------------------------------------------------- */

static void mac(void)
{
	char label[256];
	int n = read_text("/proc/self/attr/current", label, sizeof(label));
	if (n > 0 && label[n - 1] == '\n')
		label[n - 1] = '\0';
	fact("mac.label", "%s", n < 0 ? "none" : label);
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	fact("landlock.abi", "%ld", abi < 0 ? 0 : abi);

	/* Landlock proof: root with CAP_DAC_OVERRIDE, a root-owned 0755 directory, and still
	 * EACCES. A file created by mistake (no Landlock) is removed at once. */
	struct stat st;
	char path[64];
	int mode = stat("/etc", &st) == 0 ? (int)(st.st_mode & 07777) : -1;
	snprintf(path, sizeof(path), "/etc/.stockade-probe-%d", (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	attempt("landlock.etc_create", fd, "%s (dir mode %04o, owner uid %d)", path, mode,
		mode < 0 ? -1 : (int)st.st_uid);
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	/* The process's own proc file: every other layer lets its owner open it. */
	attempt("landlock.proc_write", open_for_write("/proc/self/oom_score_adj"),
		"/proc/self/oom_score_adj");
}

/* ---- seccomp signatures, kernel interfaces --------------------------------------------- */

static long do_unshare_user(void) { return unshare(CLONE_NEWUSER); }
static long do_chroot(void) { return chroot("/"); }
static long do_raise_ambient(void)
{
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN_BIT, 0, 0);
}

/* clone(2) with a namespace flag; a child that does appear exits at once. */
static long clone_newuser(void)
{
	fflush(stdout);
	long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid < 0 ? -1 : 0;
}

static void namespaces_attempts(void)
{
	attempt("userns.unshare", in_child(do_unshare_user), "unshare(CLONE_NEWUSER) in a child");
	attempt("userns.clone", clone_newuser(), "clone(CLONE_NEWUSER)");
	/* size 0: the kernel answers EINVAL; our filter answers ENOSYS first. */
	attempt("userns.clone3", syscall(SYS_clone3, NULL, 0), "clone3(NULL, 0)");
	/* fd -1: the kernel answers EBADF; a filter EPERM. */
	attempt("userns.setns", syscall(SYS_setns, -1, CLONE_NEWUSER), "setns(-1, CLONE_NEWUSER)");
}

static void mount_attempts(void)
{
	static const char *types[][2] = {{"mount.tmpfs", "tmpfs"}, {"mount.proc", "proc"},
					 {"mount.cgroup2", "cgroup2"}, {NULL, NULL}};
	const char *target = have_scratch ? scratch : "/dev/shm";
	for (int i = 0; types[i][0]; i++) {
		long r = mount("none", target, types[i][1], MS_NOSUID | MS_NODEV | MS_NOEXEC,
			       NULL);
		int saved = errno;
		if (r == 0)
			umount2(target, MNT_DETACH); /* mounted by mistake: gone at once */
		errno = saved;
		attempt(types[i][0], r, "mount -t %s on %s", types[i][1], target);
	}
	long fd = syscall(SYS_fsopen, "tmpfs", 0);
	attempt("mount.fsopen", fd, "fsopen(\"tmpfs\")");
	if (fd >= 0)
		close((int)fd); /* an unattached context: nothing was mounted */
}

static pid_t absent_pid(void)
{
	for (pid_t pid = 4194303; pid > 4194000; pid--)
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return pid;
	return 4194303;
}

static void process_attempts(void)
{
	pid_t pid = absent_pid();
	/* A pid that does not exist: ESRCH means the call was allowed, EPERM that it was not. */
	long r = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
	attempt("ptrace.attach", r, "PTRACE_ATTACH pid %d (absent)", (int)pid);
	if (r == 0)
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
	char byte;
	struct iovec local = {&byte, 1}, remote = {(void *)4096, 1};
	attempt("ptrace.process_vm_readv", syscall(SYS_process_vm_readv, pid, &local, 1,
						   &remote, 1, 0),
		"process_vm_readv pid %d (absent), 1 byte", (int)pid);
	attempt("caps.raise_ambient", in_child(do_raise_ambient),
		"prctl(PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN) in a child");
	attempt("chroot", in_child(do_chroot), "chroot(\"/\") in a child");
}

static void kernel_attempts(void)
{
	attempt("shocker.open_by_handle_at",
		syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY), "null handle");
	attempt("shocker.name_to_handle_at",
		syscall(SYS_name_to_handle_at, AT_FDCWD, "/", NULL, NULL, 0), "null handle");
	attempt("keyring.keyctl", syscall(SYS_keyctl, 9999, 0, 0, 0, 0), "unknown operation");
	attempt("keyring.add_key", syscall(SYS_add_key, NULL, NULL, NULL, 0, 0), "null type");
	attempt("keyring.request_key", syscall(SYS_request_key, NULL, NULL, NULL, 0),
		"null type");
	attempt("bpf", syscall(SYS_bpf, 9999, NULL, 0), "unknown command");
	attempt("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0),
		"null attributes");
	attempt("userfaultfd", syscall(SYS_userfaultfd, UFFD_USER_MODE_ONLY | 0x2),
		"user-mode-only with an invalid flag");
	attempt("kernel.init_module", syscall(SYS_init_module, NULL, 0, ""), "null image");
	attempt("kernel.finit_module", syscall(SYS_finit_module, -1, "", 0), "fd -1");
	attempt("kernel.kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0), "no segments");
	attempt("kernel.reboot", syscall(SYS_reboot, 0, 0, 0, NULL), "wrong magic numbers");
	attempt("kernel.swapon", syscall(SYS_swapon, NULL, 0), "null path");
	attempt("kernel.settimeofday", syscall(SYS_settimeofday, NULL, NULL), "null time");
	attempt("kernel.clock_settime", syscall(SYS_clock_settime, CLOCK_REALTIME, NULL),
		"null time");
	attempt("io_uring_setup", syscall(SYS_io_uring_setup, 0, NULL), "null parameters");
}

static void socket_attempts(void)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	attempt("net.packet", fd, "socket(AF_PACKET, SOCK_RAW)");
	if (fd >= 0)
		close(fd);
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	attempt("net.raw", fd, "socket(AF_INET, SOCK_RAW, ICMP)");
	if (fd >= 0)
		close(fd);
}

/* ---- foreign ABIs: i386 (int 0x80) and x32 ------------------------------------------- */

#define I386_SOCKETCALL 102
#define SOCKETCALL_SOCKET 1
#define X32_SYSCALL_BIT 0x40000000L

/* A 32-bit process reaches the kernel through int 0x80, where socket(2) is also the
 * socketcall(2) multiplexer whose arguments sit in memory: a place a filter on registers
 * cannot check the family. The argument block must lie below 4 GiB for a 32-bit pointer. */
static long i386_socket(int family, int type)
{
	uint32_t *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (args == MAP_FAILED)
		return -errno;
	args[0] = (uint32_t)family;
	args[1] = (uint32_t)type;
	args[2] = 0;
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"((long)I386_SOCKETCALL), "b"((long)SOCKETCALL_SOCKET),
			   "c"((long)(uintptr_t)args)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

/* x32 shares the x86_64 entry with bit 30 set in the call number. */
static long x32_socket(int family, int type)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(SYS_socket | X32_SYSCALL_BIT), "D"((long)family), "S"((long)type),
			   "d"(0L)
			 : "rcx", "r11", "memory");
	return ret;
}

/* In a child, since a filter that refuses the ABI kills the caller with SIGSYS. A socket
 * that does open is closed with the child. The raw return is -errno or a descriptor;
 * a killed child is reported as -N (errno set to it, so attempt() prints the signal). */
static long foreign_abi(int x32, int family, int type)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		long r = x32 ? x32_socket(family, type) : i386_socket(family, type);
		_exit(r < 0 && r > -256 ? (int)-r : 0);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	errno = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
	return errno ? -1 : 0;
}

static void abi_attempts(void)
{
	static const struct {
		int family, type;
		const char *name;
	} families[] = {{AF_VSOCK, SOCK_STREAM, "AF_VSOCK"},
			{AF_ALG, SOCK_SEQPACKET, "AF_ALG"},
			{AF_PACKET, SOCK_DGRAM, "AF_PACKET"}};
	for (unsigned i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		attempt("abi.i386_socketcall", foreign_abi(0, families[i].family, families[i].type),
			"int 0x80 socketcall(SYS_SOCKET, %s) in a child", families[i].name);
	attempt("abi.x32_socket", foreign_abi(1, AF_VSOCK, SOCK_STREAM),
		"x32 socket(AF_VSOCK) in a child");
}

/* ---- executing what the application wrote ---------------------------------------------- */

#define PROBE_MFD_CLOEXEC 0x0001U
#define PROBE_MFD_EXEC 0x0010U /* Linux 6.3 */

/* The smallest x86_64 program: one PT_LOAD segment whose code is exit(0). It is what the
 * attempts below write and try to run, so they depend on nothing in the image (the probe
 * itself is execute-only to the container). */
static const unsigned char tiny_elf[] = {
	0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* ELF64, little endian */
	2, 0, 0x3e, 0, 1, 0, 0, 0,                                 /* ET_EXEC, x86_64, v1 */
	0x78, 0, 0x40, 0, 0, 0, 0, 0,                              /* entry 0x400078 */
	0x40, 0, 0, 0, 0, 0, 0, 0,                                 /* program headers at 64 */
	0, 0, 0, 0, 0, 0, 0, 0,                                    /* no section headers */
	0, 0, 0, 0, 0x40, 0, 0x38, 0, 1, 0, 0, 0, 0, 0, 0, 0,      /* sizes, one phdr */
	1, 0, 0, 0, 5, 0, 0, 0,                                    /* PT_LOAD, R+X */
	0, 0, 0, 0, 0, 0, 0, 0,                                    /* file offset 0 */
	0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0,      /* at 0x400000 */
	0x81, 0, 0, 0, 0, 0, 0, 0, 0x81, 0, 0, 0, 0, 0, 0, 0,      /* 129 bytes */
	0, 0x10, 0, 0, 0, 0, 0, 0,                                 /* page aligned */
	0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05,               /* exit(0) */
};

static int write_all(int fd, const unsigned char *data, size_t size)
{
	while (size > 0) {
		ssize_t n = write(fd, data, size);
		if (n < 0)
			return -1;
		data += n;
		size -= (size_t)n;
	}
	return 0;
}

static int exec_fd = -1;

static long do_execveat(void)
{
	char *argv[] = {"stockade-probe", "-X", NULL};
	char *envp[] = {NULL};
	return syscall(SYS_execveat, exec_fd, "", argv, envp, AT_EMPTY_PATH);
}

/* vm.memfd_noexec=2 refuses MFD_EXEC and seals every other memfd against execution. */
static void memfd_attempts(void)
{
	char value[32];
	int n = read_text("/proc/sys/vm/memfd_noexec", value, sizeof(value));
	if (n > 0 && value[n - 1] == '\n')
		value[n - 1] = '\0';
	fact("memfd.noexec", "%s", n < 0 ? "absent" : value);
	long fd = syscall(SYS_memfd_create, "stockade-probe", PROBE_MFD_EXEC | PROBE_MFD_CLOEXEC);
	attempt("memfd.create_exec", fd, "memfd_create(MFD_EXEC)");
	if (fd >= 0)
		close((int)fd);
	exec_fd = (int)syscall(SYS_memfd_create, "stockade-probe", PROBE_MFD_CLOEXEC);
	if (exec_fd < 0 || write_all(exec_fd, tiny_elf, sizeof(tiny_elf)) != 0) {
		attempt("memfd.write", -1, "memfd_create and write of a tiny program");
		if (exec_fd >= 0)
			close(exec_fd);
		return;
	}
	attempt("memfd.chmod", fchmod(exec_fd, 0755), "fchmod(memfd, 0755)");
	attempt("memfd.execveat", in_child(do_execveat),
		"execveat(memfd holding exit(0), AT_EMPTY_PATH) in a child");
	close(exec_fd);
}

/* A program written to a writable directory, mapped executable as the dynamic loader
 * would map it (`ld.so /tmp/x` never calls execve, so Landlock's execute right does not
 * see it): the noexec mount flag refuses the mapping with EPERM. The file is O_TMPFILE,
 * never linked, gone at close. */
static void writable_dir(const char *dir)
{
	struct statvfs vfs;
	if (statvfs(dir, &vfs) != 0) {
		printf("mountflags\t%s\tabsent:%d\n", dir, errno);
		return;
	}
	char flags[64] = "";
	static const struct { unsigned long bit; const char *name; } known[] = {
		{ST_RDONLY, "ro"}, {ST_NOSUID, "nosuid"}, {ST_NODEV, "nodev"},
		{ST_NOEXEC, "noexec"}};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (vfs.f_flag & known[i].bit)
			snprintf(flags + strlen(flags), sizeof(flags) - strlen(flags), "%s%s",
				 flags[0] ? "," : "", known[i].name);
	printf("mountflags\t%s\t%s\n", dir, flags[0] ? flags : "-");
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0700);
	if (fd < 0 || write_all(fd, tiny_elf, sizeof(tiny_elf)) != 0) {
		attempt("exec.mmap_file", -1, "O_TMPFILE in %s", dir);
		if (fd >= 0)
			close(fd);
		return;
	}
	void *map = mmap(NULL, sizeof(tiny_elf), PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	attempt("exec.mmap", map == MAP_FAILED ? -1 : 0, "mmap(PROT_EXEC) of a program in %s",
		dir);
	if (map != MAP_FAILED)
		munmap(map, sizeof(tiny_elf));
	close(fd);
}

static void exec_attempts(void)
{
	memfd_attempts();
	for (int i = 0; i < n_writable; i++)
		writable_dir(writable[i]);
}

/* ---- filesystem: cgroups, /proc, masks, devices ---------------------------------------- */

static void cgroup_attempts(void)
{
	static const char *limits[] = {
		"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max",
		"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max", NULL};
	char path[512];
	int found = 0;
	DIR *d = opendir("/sys/fs/cgroup");
	for (struct dirent *e; d && (e = readdir(d));) {
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/release_agent", e->d_name);
		if (access(path, F_OK) == 0 && ++found)
			attempt("cgroup.release_agent", open_for_write(path), "%s", path);
	}
	if (d)
		closedir(d);
	if (access("/sys/fs/cgroup/release_agent", F_OK) == 0 && ++found)
		attempt("cgroup.release_agent", open_for_write("/sys/fs/cgroup/release_agent"),
			"/sys/fs/cgroup/release_agent");
	fact("cgroup.release_agents", "%d", found);
	for (int i = 0; limits[i]; i++)
		if (access(limits[i], F_OK) == 0)
			attempt("cgroup.limit_write", open_for_write(limits[i]), "%s", limits[i]);
	attempt("proc.core_pattern", open_for_write("/proc/sys/kernel/core_pattern"),
		"/proc/sys/kernel/core_pattern");
	attempt("proc.sysrq_trigger", open_for_write("/proc/sysrq-trigger"),
		"/proc/sysrq-trigger");
}

static void masked_paths(void)
{
	for (int i = 0; i < n_masked; i++) {
		struct stat st;
		long size = 0;
		int err = 0;
		if (stat(masked[i], &st) < 0) {
			err = errno;
		} else if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(masked[i]);
			if (!d)
				err = errno;
			for (struct dirent *e; d && (e = readdir(d));)
				size += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
			if (d)
				closedir(d);
		} else {
			char buf[4096];
			int n = read_text(masked[i], buf, sizeof(buf));
			err = n < 0 ? errno : 0;
			size = n < 0 ? 0 : n;
		}
		printf("masked\t%s\t%d\t%ld\n", masked[i], err, size);
	}
}

static void readonly_paths(void)
{
	for (int i = 0; i < n_readonly; i++) {
		struct statvfs vfs;
		struct stat st;
		if (stat(readonly[i], &st) < 0 || statvfs(readonly[i], &vfs) < 0) {
			printf("readonly\t%s\t-1\t%d\n", readonly[i], errno);
			continue;
		}
		/* Directories: the mount flag is the evidence; files are also opened. */
		int err = S_ISDIR(st.st_mode) ? -1 : (open_for_write(readonly[i]) < 0 ? errno : 0);
		printf("readonly\t%s\t%d\t%d\n", readonly[i], (vfs.f_flag & ST_RDONLY) ? 1 : 0, err);
	}
}

static int report_device(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		printf("device\t%s\t%c\t%u:%u\n", path, S_ISBLK(st->st_mode) ? 'b' : 'c',
		       major(st->st_rdev), minor(st->st_rdev));
	return 0;
}

static void devices(void)
{
	nftw("/dev", report_device, 16, FTW_PHYS);
	char path[96];
	snprintf(path, sizeof(path), "%s/blk", have_scratch ? scratch : "/dev/shm");
	long r = mknod(path, S_IFBLK | 0600, makedev(7, 0));
	attempt("dev.mknod_block", r, "mknod %s b 7:0", path);
	if (r == 0)
		unlink(path); /* never opened */
}

static void root_escape(void)
{
	struct stat root, parent;
	int same = stat("/", &root) == 0 && stat("/..", &parent) == 0 &&
		   root.st_dev == parent.st_dev && root.st_ino == parent.st_ino;
	fact("root.parent_is_root", "%d", same);
}

/* ---- whole-tree walk: setuid files and unix sockets ------------------------------------ */

static long walked;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_D && (!strcmp(path, "/proc") || !strcmp(path, "/sys")))
		return FTW_SKIP_SUBTREE; /* kernel views, not the image */
	if (++walked >= WALK_LIMIT)
		return FTW_STOP;
	if (S_ISREG(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID)))
		item("setuid", "%s %04o", path, st->st_mode & 07777);
	if (S_ISSOCK(st->st_mode))
		item("socket", "%s", path);
	return FTW_CONTINUE;
}

static void walk(void)
{
	nftw("/", visit, 16, FTW_PHYS | FTW_ACTIONRETVAL);
	fact("walk.entries", "%ld", walked);
	fact("walk.truncated", "%d", walked >= WALK_LIMIT);
	for (int i = 0; i < n_sockets; i++) {
		struct stat st;
		attempt("socket.visible", lstat(sockets[i], &st), "%s", sockets[i]);
	}
}

/* ---- network ------------------------------------------------------------------------------ */

static void interfaces(void)
{
	char line[512], name[64];
	FILE *f = fopen("/proc/net/dev", "re");
	for (int n = 0; f && fgets(line, sizeof(line), f); n++)
		if (n >= 2 && sscanf(line, " %63[^:]:", name) == 1)
			item("interface", "%s", name);
	if (f)
		fclose(f);
	f = fopen("/proc/net/route", "re");
	for (int n = 0; f && fgets(line, sizeof(line), f); n++) {
		char dest[16], gateway[16];
		if (n >= 1 && sscanf(line, "%63s %15s %15s", name, dest, gateway) == 3)
			item("route", "%s %s %s", name, dest, gateway);
	}
	if (f)
		fclose(f);
	f = fopen("/proc/net/ipv6_route", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *last = strrchr(line, ' ');
		if (last && strcmp(last + 1, "lo\n") != 0)
			item("route6", "%s", line);
	}
	if (f)
		fclose(f);
}

static long tcp_connect(const char *target)
{
	char addr[128];
	const char *colon = strrchr(target, ':');
	if (!colon || colon - target >= (long)sizeof(addr)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(addr, sizeof(addr), "%.*s", (int)(colon - target), target);
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((unsigned short)atoi(colon + 1));
		len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((unsigned short)atoi(colon + 1));
		len = sizeof(*v6);
	} else {
		errno = EINVAL;
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int err = 0;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		err = errno;
		struct pollfd p = {fd, POLLOUT, 0};
		socklen_t size = sizeof(err);
		if (err == EINPROGRESS)
			err = poll(&p, 1, CONNECT_TIMEOUT_MS) == 1 ?
				      (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &size), err) :
				      ETIMEDOUT;
	}
	close(fd); /* connected or not, nothing is sent */
	errno = err;
	return err ? -1 : 0;
}

/* Loopback only: a refused bind or connect never leaves the container's namespace, and
 * Landlock decides before the stack looks for a listener (EACCES, not ECONNREFUSED). */
static long loopback(const char *port, int do_bind)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(port)),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	long rc = do_bind ? bind(fd, (struct sockaddr *)&addr, sizeof(addr)) :
			    connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	int err = errno;
	close(fd);
	errno = err;
	return rc;
}

static void landlock_network(void)
{
	if (!unlisted_port)
		return;
	attempt("landlock.bind", loopback(unlisted_port, 1), "bind 127.0.0.1:%s", unlisted_port);
	attempt("landlock.connect", loopback(unlisted_port, 0), "connect 127.0.0.1:%s",
		unlisted_port);
}

static void egress(void)
{
	for (int i = 0; i < n_targets; i++)
		attempt("net.connect", tcp_connect(targets[i]), "%s", targets[i]);
}

/* ---- leaked descriptors --------------------------------------------------------------- */

static void descriptors(void)
{
	DIR *d = opendir("/proc/self/fd");
	char target[512];
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		item("fd", "%s %s", e->d_name, target);
	}
	if (d)
		closedir(d);
}

/* ---- main ----------------------------------------------------------------------------- */

static int add(const char **list, int *count, const char *value)
{
	if (*count >= MAX_ARGS)
		return -1;
	list[(*count)++] = value;
	return 0;
}

int main(int argc, char **argv)
{
	int opt, bad = 0;
	while ((opt = getopt(argc, argv, "m:r:s:c:p:w:X")) != -1) {
		switch (opt) {
		case 'm': bad |= add(masked, &n_masked, optarg); break;
		case 'r': bad |= add(readonly, &n_readonly, optarg); break;
		case 's': bad |= add(sockets, &n_sockets, optarg); break;
		case 'c': bad |= add(targets, &n_targets, optarg); break;
		case 'p': unlisted_port = optarg; break;
		case 'w': bad |= add(writable, &n_writable, optarg); break;
		case 'X': return 0;
		default: bad = -1;
		}
	}
	if (bad || optind != argc) {
		fprintf(stderr, "usage: %s [-m PATH] [-r PATH] [-s PATH] [-c ADDR:PORT] [-p PORT] "
			"[-w PATH] [-X]\n", argv[0]);
		return 2;
	}
	have_scratch = mkdtemp(scratch) != NULL;
	descriptors(); /* first, before the probe opens anything of its own */
	identity();
	processes();
	mac();
	namespaces_attempts();
	mount_attempts();
	process_attempts();
	kernel_attempts();
	socket_attempts();
	exec_attempts();
	abi_attempts();
	cgroup_attempts();
	masked_paths();
	readonly_paths();
	devices();
	root_escape();
	interfaces();
	landlock_network();
	egress();
	walk();
	if (have_scratch)
		rmdir(scratch);
	printf("end\tok\n");
	return fflush(stdout) == 0 ? 0 : 1;
}
