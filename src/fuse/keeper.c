/*
 * keeper.c - the keeper process and the worker's side of the hand-over;
 * see keeper.h.
 */
#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "fuse/keeper.h"
#include "util/log.h"

#define HANDOFF_ENV "LIMG_KEEPER"

/* Newer than Debian 12's <linux/fuse.h> (protocol 7.40, Linux 6.9). */
#define LIMG_FUSE_NOTIFY_RESEND 7
#define LIMG_FUSE_HAS_RESEND_FLAGS2 (1u << (39 - 32))
#define LIMG_FUSE_INIT_EXT (1u << 30)

#define GIVE_UP_AFTER 5                 /* failed starts in a row */
#define SHORT_LIFE_US (10 * G_USEC_PER_SEC)
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define STOP_WAIT_US (10 * G_USEC_PER_SEC)
#define RETIRE_WAIT_US (5 * G_USEC_PER_SEC)    /* requests it holds wait as long */

/* ------------------------------------------------------------ the worker's side */

void
limg_handoff_clear(LimgHandoff *h)
{
	g_clear_pointer(&h->mountpoint, g_free);
}

static gboolean
fd_ok(int fd)
{
	return fd > 2 && fcntl(fd, F_GETFD) >= 0;
}

int
limg_handoff_get(LimgHandoff *h, GError **error)
{
	const char *v = g_getenv(HANDOFF_ENV);
	int fuse_fd, init_fd, ready_fd, keeper, n = 0;
	unsigned start;

	memset(h, 0, sizeof(*h));
	h->fuse_fd = h->init_fd = h->ready_fd = -1;
	if (!v)
		return 0;
	if (sscanf(v, "fuse=%d,init=%d,ready=%d,keeper=%d,start=%u,mnt=%n", &fuse_fd, &init_fd,
	           &ready_fd, &keeper, &start, &n) != 5 || n == 0 || v[n] != '/' ||
	    !fd_ok(fuse_fd) || !fd_ok(init_fd) || !fd_ok(ready_fd) || keeper <= 1) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
		            "%s=%s: not a hand-over from a running keeper", HANDOFF_ENV, v);
		return -1;
	}
	h->fuse_fd = fuse_fd;
	h->init_fd = init_fd;
	h->ready_fd = ready_fd;
	h->keeper = keeper;
	h->start = start;
	h->mountpoint = g_strdup(v + n);
	g_unsetenv(HANDOFF_ENV);
	/* Ours alone: nothing we start later needs them. */
	fcntl(init_fd, F_SETFD, FD_CLOEXEC);
	fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
	return 1;
}

char *
limg_handoff_mount_arg(const LimgHandoff *h)
{
	return g_strdup_printf("/dev/fd/%d", h->fuse_fd);
}

gboolean
limg_handoff_init(const LimgHandoff *h, struct fuse_session *se, GError **error)
{
	struct fuse_buf buf = { 0 };
	g_autofree char *data = NULL;
	const struct fuse_in_header *in;
	struct stat st;
	ssize_t n;

	if (fstat(h->init_fd, &st) < 0 || st.st_size < (off_t)sizeof(*in) ||
	    st.st_size > 64 * 1024) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
		            "the keeper's INIT request: %s", g_strerror(errno ? errno : EINVAL));
		return FALSE;
	}
	data = g_malloc(st.st_size);
	n = pread(h->init_fd, data, st.st_size, 0);
	in = (const struct fuse_in_header *)data;
	if (n != st.st_size || in->len != (uint32_t)n || in->opcode != FUSE_INIT) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
		            "the keeper's INIT request is not one (%zd bytes)", n);
		return FALSE;
	}
	close(h->init_fd);
	/*
	 * libfuse answers it on the session's fd: the kernel takes the first
	 * worker's reply and drops a successor's (its id is long done).
	 */
	buf.mem = data;
	buf.size = (size_t)n;
	fuse_session_process_buf(se, &buf);
	return TRUE;
}

void
limg_handoff_ready(LimgHandoff *h)
{
	if (h->ready_fd < 0)
		return;
	if (write(h->ready_fd, "R", 1) != 1)
		limg_log(LIMG_LOG_WARN, "cannot tell the keeper this worker serves: %s",
		         g_strerror(errno));
	close(h->ready_fd);
	h->ready_fd = -1;
}

/* ------------------------------------------------------------ the keeper */

typedef struct {
	pid_t pid;
	int ready_rd;           /* -1 once read or closed */
	gint64 started_us;
	bool ready;
	unsigned start;
} Worker;

typedef struct {
	struct fuse_session *se;
	int fd;                 /* the session's /dev/fuse file */
	char *mountpoint;
	char *cwd;              /* the mount command's: workers start there */
	char *exe;              /* the binary to start: the one on disk now */
	char **args;
	int init_fd;            /* memfd: the INIT request */
	uint64_t init_unique;
	bool has_resend;
	bool inited;            /* a worker answered INIT */
	Worker cur;             /* serving, or starting */
	Worker old;             /* an upgrade: serves until cur is ready */
	unsigned starts;
	unsigned fails;         /* starts in a row that did not last */
	gint64 restart_at_us;   /* 0: none due */
	gint64 old_kill_at_us;  /* a retired worker that did not exit: SIGKILL */
	bool resend_due;        /* after cur is ready */
	bool eio;               /* given up: we answer, with EIO */
	char *buf;              /* requests, in EIO mode */
	size_t bufsize;
} Keeper;

static void
worker_clear(Worker *w)
{
	if (w->ready_rd >= 0)
		close(w->ready_rd);
	memset(w, 0, sizeof(*w));
	w->ready_rd = -1;
}

static char *
self_exe(void)
{
	char *exe = g_file_read_link("/proc/self/exe", NULL);
	size_t len;

	if (!exe)
		return NULL;
	/* Replaced on disk since we started: the path is what we want. */
	len = strlen(exe);
	if (len > 10 && strcmp(exe + len - 10, " (deleted)") == 0)
		exe[len - 10] = 0;
	return exe;
}

/* The INIT request the kernel sent at mount, kept in a memfd for workers. */
static gboolean
read_init(Keeper *k, GError **error)
{
	g_autofree char *buf = g_malloc(k->bufsize);
	const struct fuse_in_header *in = (const void *)buf;
	const struct fuse_init_in *arg = (const void *)(buf + sizeof(*in));
	ssize_t n;

	do
		n = read(k->fd, buf, k->bufsize);
	while (n < 0 && errno == EINTR);
	if (n < (ssize_t)(sizeof(*in) + 16) || in->len != (uint32_t)n || in->opcode != FUSE_INIT) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		            "the kernel's first request is not INIT (%s)",
		            n < 0 ? g_strerror(errno) : "unexpected bytes");
		return FALSE;
	}
	k->init_unique = in->unique;
	/* flags2 follows flags from protocol 7.36, with FUSE_INIT_EXT. */
	if ((size_t)n >= sizeof(*in) + 20 && arg->minor >= 36 && (arg->flags & LIMG_FUSE_INIT_EXT)) {
		uint32_t flags2;

		memcpy(&flags2, buf + sizeof(*in) + 16, sizeof(flags2));
		k->has_resend = (flags2 & LIMG_FUSE_HAS_RESEND_FLAGS2) != 0;
	}
	k->init_fd = memfd_create("limg-init", MFD_CLOEXEC);
	if (k->init_fd < 0 || write(k->init_fd, buf, (size_t)n) != n) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
		            "cannot keep the INIT request: %s", g_strerror(errno));
		return FALSE;
	}
	limg_log(LIMG_LOG_DEBUG, "kernel FUSE %u.%u, resend %s", arg->major, arg->minor,
	         k->has_resend ? "yes" : "no");
	return TRUE;
}

/* Start a worker as k->cur. */
static gboolean
spawn(Keeper *k)
{
	int p[2];
	pid_t pid;

	worker_clear(&k->cur);
	if (pipe2(p, O_CLOEXEC) < 0) {
		limg_log(LIMG_LOG_ERR, "cannot start a worker: pipe: %s", g_strerror(errno));
		return FALSE;
	}
	k->starts++;
	pid = fork();
	if (pid < 0) {
		limg_log(LIMG_LOG_ERR, "cannot start a worker: fork: %s", g_strerror(errno));
		close(p[0]);
		close(p[1]);
		return FALSE;
	}
	if (pid == 0) {
		g_autoptr(GPtrArray) argv = g_ptr_array_new();
		char env[PATH_MAX + 128];
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* Relative paths of the command line (the worker then goes to /). */
		if (k->cwd && chdir(k->cwd) < 0)
			fprintf(stderr, "fuse-layerimg: worker: %s: %s\n", k->cwd, g_strerror(errno));
		signal(SIGPIPE, SIG_DFL);
		/* What the worker inherits; all else is close-on-exec. */
		fcntl(k->fd, F_SETFD, 0);
		fcntl(k->init_fd, F_SETFD, 0);
		fcntl(p[1], F_SETFD, 0);
		snprintf(env, sizeof(env), "fuse=%d,init=%d,ready=%d,keeper=%d,start=%u,mnt=%s",
		         k->fd, k->init_fd, p[1], (int)getppid(), k->starts, k->mountpoint);
		setenv(HANDOFF_ENV, env, 1);
		unsetenv("NOTIFY_SOCKET");     /* the keeper speaks to systemd */
		g_ptr_array_add(argv, (char *)LIMG_WORKER_ARGV0);
		g_ptr_array_add(argv, (char *)"mount");
		for (char **a = k->args; *a; a++)
			g_ptr_array_add(argv, *a);
		g_ptr_array_add(argv, NULL);
		execv(k->exe, (char **)argv->pdata);
		fprintf(stderr, "fuse-layerimg: cannot start the worker %s: %s\n", k->exe,
		        g_strerror(errno));
		_exit(127);
	}
	close(p[1]);
	k->cur.pid = pid;
	k->cur.ready_rd = p[0];
	k->cur.started_us = g_get_monotonic_time();
	k->cur.start = k->starts;
	limg_log(LIMG_LOG_DEBUG, "worker %d started (%s)", (int)pid, k->exe);
	return TRUE;
}

/* Ask the kernel for every request read but not answered (a dead worker's). */
static void
resend(Keeper *k)
{
	struct fuse_out_header h = { .len = sizeof(h), .error = LIMG_FUSE_NOTIFY_RESEND };
	static bool warned;

	if (!k->has_resend) {
		if (!warned)
			limg_log(LIMG_LOG_WARN, "this kernel cannot resend the requests a dead "
			         "worker had read (FUSE_NOTIFY_RESEND, Linux 6.9+): their callers "
			         "wait until the mount is stopped");
		warned = true;
		return;
	}
	if (write(k->fd, &h, sizeof(h)) != (ssize_t)sizeof(h))
		limg_log(LIMG_LOG_WARN, "FUSE_NOTIFY_RESEND: %s", g_strerror(errno));
}

static bool
connection_gone(Keeper *k)
{
	struct pollfd p = { .fd = k->fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLNVAL));
}

static void
describe(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

/* Answer one request with EIO (given up); false when the mount is gone. */
static bool
serve_eio(Keeper *k)
{
	const struct fuse_in_header *in = (const void *)k->buf;
	struct fuse_out_header out = { .len = sizeof(out), .error = -EIO };
	ssize_t n = read(k->fd, k->buf, k->bufsize);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN || errno == ENOENT;
	if (n < (ssize_t)sizeof(*in))
		return true;
	switch (in->opcode) {
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		return true;    /* no reply */
	default:
		out.unique = in->unique;
		if (write(k->fd, &out, sizeof(out)) < 0 && errno != ENOENT)
			limg_log(LIMG_LOG_DEBUG, "EIO reply: %s", g_strerror(errno));
		return true;
	}
}

static void
give_up(Keeper *k)
{
	limg_log(LIMG_LOG_ERR, "the worker failed %u times in a row; not restarting it: every "
	         "request to %s now fails with EIO (SIGHUP, or `fuse-layerimg upgrade`, tries "
	         "again)", k->fails, k->mountpoint);
	k->eio = true;
	k->restart_at_us = 0;
	if (!k->buf)
		k->buf = g_malloc(k->bufsize);
	if (!k->inited) {
		/* The kernel still waits for INIT: refuse the connection. */
		struct fuse_out_header out = { .len = sizeof(out), .error = -EIO,
		                               .unique = k->init_unique };

		if (write(k->fd, &out, sizeof(out)) < 0)
			limg_log(LIMG_LOG_DEBUG, "INIT error reply: %s", g_strerror(errno));
		k->inited = true;
	}
}

/* The current worker died. */
static void
cur_died(Keeper *k, int status)
{
	gint64 lived = g_get_monotonic_time() - k->cur.started_us;
	bool was_ready = k->cur.ready;
	char what[96];
	unsigned delay;

	describe(status, what, sizeof(what));
	worker_clear(&k->cur);
	if (k->old.pid) {
		/* An upgrade whose new worker never served: keep the old one. */
		limg_log(LIMG_LOG_ERR, "upgrade failed: the new worker %s before serving; the "
		         "old worker %d keeps serving %s", what, (int)k->old.pid, k->mountpoint);
		k->cur = k->old;
		memset(&k->old, 0, sizeof(k->old));
		k->old.ready_rd = -1;
		return;
	}
	if (!was_ready || lived < SHORT_LIFE_US)
		k->fails++;
	else
		k->fails = 0;
	limg_log(LIMG_LOG_WARN, "the worker serving %s %s%s%s", k->mountpoint, what,
	         was_ready ? "" : " before serving",
	         k->fails >= GIVE_UP_AFTER ? "" : "; restarting it");
	if (k->fails >= GIVE_UP_AFTER) {
		give_up(k);
		return;
	}
	/* The first quick death restarts at once; more in a row back off. */
	delay = k->fails >= 2 ? MIN(BACKOFF_MAX_MS, BACKOFF_FIRST_MS << (k->fails - 2)) : 0;
	k->restart_at_us = g_get_monotonic_time() + (gint64)delay * 1000;
	k->resend_due = true;
}

/* Stop every worker (SIGTERM, then SIGKILL after STOP_WAIT_US). */
static void
stop_workers(Keeper *k)
{
	gint64 deadline = g_get_monotonic_time() + STOP_WAIT_US;
	bool killed = false;

	if (k->cur.pid)
		kill(k->cur.pid, SIGTERM);
	if (k->old.pid)
		kill(k->old.pid, SIGTERM);
	while (k->cur.pid || k->old.pid) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid == k->cur.pid && pid > 0)
			worker_clear(&k->cur);
		else if (pid == k->old.pid && pid > 0)
			worker_clear(&k->old);
		else if (pid < 0 && errno == ECHILD)
			break;
		if (pid <= 0) {
			if (!killed && g_get_monotonic_time() > deadline) {
				limg_log(LIMG_LOG_WARN, "a worker did not stop in time: killing it");
				if (k->cur.pid)
					kill(k->cur.pid, SIGKILL);
				if (k->old.pid)
					kill(k->old.pid, SIGKILL);
				killed = true;
			}
			g_usleep(10 * 1000);
		}
	}
}

/* SIGHUP: start the binary on disk; the old worker serves until it is ready. */
static void
upgrade(Keeper *k)
{
	g_free(k->exe);
	k->exe = self_exe();
	if (!k->exe)
		k->exe = g_strdup("/proc/self/exe");
	if (k->eio) {
		limg_log(LIMG_LOG_INFO, "SIGHUP: trying a worker again (%s)", k->exe);
		k->eio = false;
		k->fails = 0;
		spawn(k);
		return;
	}
	if (k->old.pid || !k->cur.pid || !k->cur.ready) {
		limg_log(LIMG_LOG_WARN, "SIGHUP: a worker is starting already; try again later");
		return;
	}
	limg_log(LIMG_LOG_INFO, "SIGHUP: handing %s over to %s", k->mountpoint, k->exe);
	k->old = k->cur;
	k->cur.pid = 0;
	k->cur.ready_rd = -1;
	if (!spawn(k)) {
		k->cur = k->old;
		memset(&k->old, 0, sizeof(k->old));
		k->old.ready_rd = -1;
	}
}

/*
 * systemd Type=notify: READY=1 once the first worker serves, so
 * "started" means "served". The notify protocol: one datagram to the
 * socket named by $NOTIFY_SOCKET ('@' for the abstract namespace).
 */
static void
notify_systemd(const char *state)
{
	const char *path = g_getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		limg_log(LIMG_LOG_DEBUG, "NOTIFY_SOCKET %s: %s", path, g_strerror(errno));
	close(fd);
}

/* The current worker said it serves. */
static void
cur_ready(Keeper *k)
{
	if (!k->inited) {
		g_autofree char *state = g_strdup_printf("READY=1\nMAINPID=%d", (int)getpid());

		notify_systemd(state);
	}
	k->cur.ready = true;
	k->inited = true;
	close(k->cur.ready_rd);
	k->cur.ready_rd = -1;
	if (k->cur.start > 1)
		limg_log(LIMG_LOG_INFO, "worker %d serves %s", (int)k->cur.pid, k->mountpoint);
	if (k->old.pid) {
		/* It finishes what it is answering; the rest is resent once it is gone. */
		kill(k->old.pid, SIGTERM);
		k->old_kill_at_us = g_get_monotonic_time() + RETIRE_WAIT_US;
	} else if (k->resend_due) {
		resend(k);
	}
	k->resend_due = false;
}

static size_t
request_bufsize(void)
{
	g_autofree char *s = NULL;
	uint64_t pages = 256;

	if (g_file_get_contents("/proc/sys/fs/fuse/max_pages_limit", &s, NULL, NULL))
		pages = MAX(32, g_ascii_strtoull(s, NULL, 10));
	return (size_t)(MIN(pages, 65536) * (uint64_t)getpagesize() + 2 * 4096 + FUSE_MIN_READ_BUFFER);
}

char *
limg_keeper_pid_path(const char *mountpoint)
{
	g_autofree char *canon = g_canonicalize_filename(mountpoint, NULL);
	g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, canon, -1);
	const char *run = geteuid() == 0 ? "/run" : g_get_user_runtime_dir();

	sum[16] = 0;
	return g_strdup_printf("%s/fuse-layerimg/keeper-%s.pid", run, sum);
}

/* The pid file (best effort: only `upgrade` without a worker needs it). */
static char *
write_pid_file(const char *mountpoint)
{
	char *path = limg_keeper_pid_path(mountpoint);
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *text = g_strdup_printf("%d %s\n", (int)getpid(), mountpoint);

	if (g_mkdir_with_parents(dir, 0755) < 0 ||
	    !g_file_set_contents(path, text, -1, NULL)) {
		limg_log(LIMG_LOG_DEBUG, "cannot write %s", path);
		g_free(path);
		return NULL;
	}
	return path;
}

int
limg_keeper_run(struct fuse_session *se, const char *mountpoint, const char *cwd,
                char **args)
{
	Keeper k = { .se = se, .fd = fuse_session_fd(se), .args = args, .init_fd = -1 };
	g_autofree char *pid_file = NULL;
	g_autoptr(GError) error = NULL;
	sigset_t set;
	int sfd, status = 1;

	k.mountpoint = g_strdup(mountpoint);
	k.cwd = g_strdup(cwd);
	k.exe = self_exe();
	k.bufsize = request_bufsize();
	worker_clear(&k.cur);
	worker_clear(&k.old);
	if (!k.exe) {
		limg_log(LIMG_LOG_ERR, "cannot find this program's binary: %s", g_strerror(errno));
		goto out;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		limg_log(LIMG_LOG_ERR, "signalfd: %s", g_strerror(errno));
		goto out;
	}
	pid_file = write_pid_file(mountpoint);
	if (!read_init(&k, &error)) {
		limg_log(LIMG_LOG_ERR, "%s", error->message);
		close(sfd);
		goto out;
	}
	spawn(&k);
	for (;;) {
		struct pollfd p[3] = { { .fd = sfd, .events = POLLIN } };
		int np = 1, ri = -1, fi = -1, timeout = -1;
		struct signalfd_siginfo si;

		if (k.cur.pid && k.cur.ready_rd >= 0) {
			ri = np;
			p[np++] = (struct pollfd){ .fd = k.cur.ready_rd, .events = POLLIN };
		}
		if (k.eio) {
			fi = np;
			p[np++] = (struct pollfd){ .fd = k.fd, .events = POLLIN };
		}
		if (k.restart_at_us)
			timeout = (int)MAX(0, (k.restart_at_us - g_get_monotonic_time() + 999) / 1000);
		if (k.old.pid && k.old_kill_at_us) {
			int t = (int)MAX(0, (k.old_kill_at_us - g_get_monotonic_time() + 999) / 1000);

			timeout = timeout < 0 ? t : MIN(timeout, t);
		}
		if (poll(p, np, timeout) < 0 && errno != EINTR) {
			limg_log(LIMG_LOG_ERR, "poll: %s", g_strerror(errno));
			break;
		}
		if (k.restart_at_us && g_get_monotonic_time() >= k.restart_at_us) {
			k.restart_at_us = 0;
			if (connection_gone(&k)) {
				status = 0;
				break;
			}
			spawn(&k);
		}
		if (k.old.pid && k.old_kill_at_us && g_get_monotonic_time() >= k.old_kill_at_us) {
			/* What it read and holds is resent once it is reaped. */
			limg_log(LIMG_LOG_WARN, "the retired worker %d did not exit within %d s of "
			         "SIGTERM: killing it", (int)k.old.pid, (int)(RETIRE_WAIT_US / G_USEC_PER_SEC));
			kill(k.old.pid, SIGKILL);
			k.old_kill_at_us = 0;
		}
		if (ri >= 0 && p[ri].revents) {
			char c;
			ssize_t n = read(k.cur.ready_rd, &c, 1);

			if (n == 1) {
				cur_ready(&k);
			} else if (n == 0) {
				close(k.cur.ready_rd);
				k.cur.ready_rd = -1;    /* it died: SIGCHLD says how */
			}
		}
		if (fi >= 0 && p[fi].revents) {
			if ((p[fi].revents & (POLLERR | POLLNVAL)) || !serve_eio(&k)) {
				status = 0;     /* unmounted */
				break;
			}
		}
		if (!(p[0].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			limg_log(LIMG_LOG_INFO, "stopping: unmounting %s", k.mountpoint);
			stop_workers(&k);
			fuse_session_unmount(se);
			status = 0;
			break;
		}
		if (si.ssi_signo == SIGHUP) {
			upgrade(&k);
			continue;
		}
		/* SIGCHLD: reap every worker that ended. */
		for (;;) {
			int ws;
			pid_t pid = waitpid(-1, &ws, WNOHANG);

			if (pid <= 0)
				break;
			if (pid == k.old.pid) {
				worker_clear(&k.old);
				k.old_kill_at_us = 0;
				resend(&k);     /* what it had read and not answered */
			} else if (pid == k.cur.pid) {
				if (connection_gone(&k)) {
					worker_clear(&k.cur);
					status = 0;     /* unmounted: the worker saw it end */
					goto done;
				}
				cur_died(&k, ws);
			}
		}
	}
done:
	stop_workers(&k);
	close(sfd);
out:
	if (pid_file)
		unlink(pid_file);
	if (k.init_fd >= 0)
		close(k.init_fd);
	g_free(k.buf);
	g_free(k.exe);
	g_free(k.mountpoint);
	g_free(k.cwd);
	return status;
}
