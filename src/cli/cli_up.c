/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flowscope up: run flowscope-server and flowscope-agent on this host until Ctrl-C.
 *
 * Order matters both ways. Starting: the server first, and the agent only once the server
 * answers /healthz, so the agent's first batches are not spooled for nothing. Stopping:
 * the agent first, waited for, so that it can drain its spool into a server that is still
 * there; then the server, which commits what it was given.
 *
 * To own that order, the children run in process groups of their own: Ctrl-C in a
 * terminal signals the foreground group, which is only us, and we stop them one after
 * the other. Should we die without stopping them, PR_SET_PDEATHSIG sends them SIGTERM.
 *
 * One event loop: signals (SIGINT, SIGTERM, SIGHUP to stop; SIGCHLD for a child's exit)
 * arrive through a signalfd, and the agent's stderr through a pipe that we copy to ours
 * line by line, watching for the line that says it captures. That line, not a guess at a
 * delay, is what tells us the agent is up.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_http.h"

#define DEFAULT_DATA "./flowscope-data"
/* How long the server has to answer /healthz, and each child to stop when asked. */
#define HEALTH_WAIT_MS 15000
#define STOP_WAIT_MS   15000
/* How long the agent has to say it captures: loading eBPF is slow under sanitizers. */
#define AGENT_WAIT_MS 60000
#define POLL_MS	      100
/* What flowscope-agent logs once its programs are attached (agent_main.c). */
#define AGENT_READY "capturing socket traffic"
#define LINE_MAX_   4096

static const char up_help[] =
	"Usage: flowscope up [--data DIR] [--listen ADDR:PORT] [--retention-days N]\n"
	"                    [--store URL] [--agent-arg ARG]... [--server-arg ARG]...\n"
	"\n"
	"Run flowscope-server and flowscope-agent on this host, in the foreground, until\n"
	"Ctrl-C (SIGINT) or SIGTERM. The server starts first; once it answers, the agent\n"
	"starts and sends it every request it sees. Stopping, the agent goes first and is\n"
	"waited for, so that what it holds reaches the server; then the server stops.\n"
	"Their messages go to stderr. If either one dies, the other is stopped and\n"
	"flowscope up exits 1. The agent needs root (or CAP_BPF and CAP_PERFMON).\n"
	"\n"
	"Options:\n"
	"  -d, --data DIR           where the server keeps its store (default " DEFAULT_DATA ")\n"
	"  -l, --listen ADDR:PORT   the server's HTTP API (default " CLI_DEFAULT_LISTEN ")\n"
	"      --retention-days N   days of records the server keeps (default: the server's)\n"
	"      --store URL          sqlite: (default, in --data) or\n"
	"                           clickhouse://HOST:PORT/DB[?cluster=NAME]\n"
	"      --agent-arg ARG      one more argument for flowscope-agent (repeatable), e.g.\n"
	"                           --agent-arg=--comm=nginx\n"
	"      --server-arg ARG     one more argument for flowscope-server (repeatable)\n"
	"  -h, --help               show this help\n"
	"\n"
	"The programs are the flowscope-server and flowscope-agent next to this flowscope,\n"
	"or $FLOWSCOPE_SERVER and $FLOWSCOPE_AGENT when set.\n"
	"\n"
	"Examples:\n"
	"  sudo flowscope up\n"
	"  sudo flowscope up --data /var/lib/flowscope --retention-days 30\n"
	"  sudo flowscope up --agent-arg=--comm=nginx\n"
	"  sudo flowscope up --store clickhouse://127.0.0.1:8123/flowscope\n"
	"\n"
	"Exit status: 0 both stopped cleanly, 1 one failed to start, died or did not stop\n"
	"cleanly, 2 bad command line.\n";

static int run_up(int argc, char **argv);

const struct cli_cmd cli_cmd_up = {
	.name = "up",
	.summary = "start flowscope-server and flowscope-agent here; Ctrl-C stops both",
	.help = up_help,
	.run = run_up,
};

enum { OPT_RETENTION = 256, OPT_AGENT_ARG, OPT_SERVER_ARG, OPT_STORE };

static const struct option up_opts[] = {
	{ "data", required_argument, NULL, 'd' },
	{ "listen", required_argument, NULL, 'l' },
	{ "retention-days", required_argument, NULL, OPT_RETENTION },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "agent-arg", required_argument, NULL, OPT_AGENT_ARG },
	{ "server-arg", required_argument, NULL, OPT_SERVER_ARG },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

struct child {
	const char *name; /* "flowscope-server" */
	char *path;
	pid_t pid; /* 0: never started */
	bool exited;
	int status; /* wait status, once exited */
};

struct up {
	struct child server, agent;
	int sfd;	 /* signalfd: SIGINT, SIGTERM, SIGHUP, SIGCHLD */
	int agent_err;	 /* read end of the agent's stderr; -1 once closed */
	unsigned stops;	 /* stop signals received */
	int last_signal; /* the latest of them */
	bool agent_ready;
	char line[LINE_MAX_]; /* the agent's current, unfinished stderr line */
	size_t line_len;
	sigset_t old_mask; /* what the children get back */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline, never negative (poll takes -1 as forever). */
static int left_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left > 0 ? (int)left : 0;
}

/* "exited with status 1", "was killed by signal 9 (Killed)". */
static const char *describe(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "ended with wait status 0x%x", status);
	return buf;
}

/* $env, else NAME next to our own executable. NULL after printing why. */
static char *find_program(const char *env, const char *name)
{
	char self[PATH_MAX], *slash, *path = NULL;
	const char *e = getenv(env);
	ssize_t n;

	if (e && *e) {
		path = strdup(e);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0) {
			fprintf(stderr, "flowscope: cannot find %s: /proc/self/exe: %s (set %s)\n",
				name, strerror(errno), env);
			return NULL;
		}
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		if (asprintf(&path, "%s/%s", slash ? self : ".", name) < 0)
			path = NULL;
	}
	if (!path) {
		fprintf(stderr, "flowscope: out of memory\n");
		return NULL;
	}
	if (access(path, X_OK)) {
		fprintf(stderr, "flowscope: cannot run %s: %s: %s (set %s to its path)\n", name,
			path, strerror(errno), env);
		free(path);
		return NULL;
	}
	return path;
}

/*
 * fork and exec argv as child c. The child gets stdin from /dev/null, stderr on err_fd
 * (or ours when -1), its own process group, SIGTERM when we die, and the signal mask and
 * dispositions we started with. An exec failure comes back through a close-on-exec pipe,
 * so it is reported here rather than as a mysterious exit status.
 * Only async-signal-safe calls after fork: libcurl may have started threads.
 */
static int spawn(struct up *u, struct child *c, char **argv, int err_fd)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	pid_t parent = getpid();
	int pfd[2], child_errno = 0, fd;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	c->pid = fork();
	if (c->pid < 0) {
		int rc = -errno;

		close(pfd[0]);
		close(pfd[1]);
		c->pid = 0;
		return rc;
	}
	if (c->pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127); /* we died before prctl took effect */
		sigaction(SIGPIPE, &dfl, NULL);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0 && fd != STDIN_FILENO) {
			dup2(fd, STDIN_FILENO);
			close(fd);
		}
		if (err_fd >= 0)
			dup2(err_fd, STDERR_FILENO);
		sigprocmask(SIG_SETMASK, &u->old_mask, NULL);
		execv(c->path, argv);
		child_errno = errno;
		n = write(pfd[1], &child_errno, sizeof(child_errno));
		(void)n;
		_exit(127);
	}
	close(pfd[1]);
	do
		n = read(pfd[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(pfd[0]);
	if (n == sizeof(child_errno)) {
		waitpid(c->pid, NULL, 0);
		c->pid = 0;
		return -child_errno;
	}
	return 0;
}

/* Reap whichever children have exited. */
static void reap(struct up *u)
{
	struct child *cs[] = { &u->server, &u->agent };
	int status;

	for (size_t i = 0; i < 2; i++) {
		struct child *c = cs[i];

		if (!c->pid || c->exited)
			continue;
		if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
			c->exited = true;
			c->status = status;
		}
	}
}

/* A whole line of the agent's stderr: pass it on, and notice the one that means ready. */
static void agent_line(struct up *u, const char *s, size_t len)
{
	ssize_t n = write(STDERR_FILENO, s, len);

	(void)n; /* our stderr gone is no reason to stop the agent */
	if (!u->agent_ready && memmem(s, len, AGENT_READY, strlen(AGENT_READY)))
		u->agent_ready = true;
}

static void relay_agent(struct up *u)
{
	char buf[4096];
	ssize_t n = read(u->agent_err, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* The agent closed its stderr (it exited): pass on what is left. */
		if (u->line_len)
			agent_line(u, u->line, u->line_len);
		u->line_len = 0;
		close(u->agent_err);
		u->agent_err = -1;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		u->line[u->line_len++] = buf[i];
		if (buf[i] == '\n' || u->line_len == sizeof(u->line)) {
			agent_line(u, u->line, u->line_len);
			u->line_len = 0;
		}
	}
}

/* Wait up to timeout_ms (-1: until something happens) and handle what happened. */
static void wait_events(struct up *u, int timeout_ms)
{
	struct pollfd p[2] = {
		{ .fd = u->sfd, .events = POLLIN },
		{ .fd = u->agent_err, .events = POLLIN },
	};
	struct signalfd_siginfo si;

	if (poll(p, u->agent_err >= 0 ? 2 : 1, timeout_ms) <= 0)
		return;
	if (p[0].revents & POLLIN) {
		while (read(u->sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGCHLD) {
				reap(u);
			} else {
				u->stops++;
				u->last_signal = (int)si.ssi_signo;
			}
		}
	}
	if (u->agent_err >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
		relay_agent(u);
}

/*
 * Copy what the exited agent still had to say, until its stderr closes. Bounded: a
 * process it left behind could hold the pipe open.
 */
static void drain_agent(struct up *u)
{
	int64_t deadline = now_ms() + 1000;

	while (u->agent_err >= 0 && now_ms() < deadline)
		wait_events(u, POLL_MS);
}

/*
 * SIGTERM c and wait for it, STOP_WAIT_MS at most, or until another stop signal (someone
 * insists), then SIGKILL. Returns true when it exited 0.
 */
static bool stop_child(struct up *u, struct child *c)
{
	int64_t deadline = now_ms() + STOP_WAIT_MS;
	unsigned stops = u->stops;
	char why[96];

	if (!c->pid)
		return true;
	if (!c->exited)
		kill(c->pid, SIGTERM);
	while (!c->exited && u->stops == stops && left_ms(deadline))
		wait_events(u, left_ms(deadline));
	if (!c->exited) {
		fprintf(stderr, "flowscope: %s did not stop %s; killing it\n", c->name,
			u->stops == stops ? "within 15 s" : "(asked again)");
		kill(c->pid, SIGKILL);
		while (!c->exited)
			wait_events(u, POLL_MS);
	}
	if (c == &u->agent)
		drain_agent(u);
	if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0)
		return true;
	fprintf(stderr, "flowscope: %s %s while stopping\n", c->name,
		describe(c->status, why, sizeof(why)));
	return false;
}

/* Both stopped in order; the exit status when stopping was asked for. */
static int stop_all(struct up *u)
{
	bool ok = stop_child(u, &u->agent);

	ok = stop_child(u, &u->server) && ok;
	return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* A child died on its own: say which and how, stop the other, exit 1. */
static int died(struct up *u, struct child *c, const char *when)
{
	struct child *other = c == &u->server ? &u->agent : &u->server;
	char why[96];

	/* Its last words first, so the explanation follows the cause. */
	if (c == &u->agent)
		drain_agent(u);
	fprintf(stderr, "flowscope: %s %s %s", c->name, describe(c->status, why, sizeof(why)),
		when);
	if (other->pid && !other->exited)
		fprintf(stderr, "; stopping %s", other->name);
	fputc('\n', stderr);
	if (c == &u->agent && geteuid() != 0)
		fprintf(stderr, "flowscope: the agent needs root: try sudo flowscope up\n");
	stop_child(u, other);
	return CLI_EXIT_FAIL;
}

static bool stop_requested(struct up *u)
{
	if (!u->stops)
		return false;
	fprintf(stderr, "flowscope: SIG%s: stopping %s\n",
		sigabbrev_np(u->last_signal) ? sigabbrev_np(u->last_signal) : "?",
		u->agent.pid && !u->agent.exited ? "flowscope-agent, then flowscope-server"
						 : "flowscope-server");
	return true;
}

/* True when an HTTP server, any, answers at url now. */
static bool already_answers(const char *url)
{
	struct cli_http_reply r;
	char err[CLI_HTTP_ERR_ROOM], *health;
	int rc;

	if (asprintf(&health, "%s/healthz", url) < 0)
		return false; /* the health check will find out */
	rc = cli_http_request(health, NULL, 1000, &r, err, sizeof(err));
	cli_http_reply_free(&r);
	free(health);
	return rc == 0;
}

/* Wait for GET /healthz to answer 200. Returns -1 to go on, else the exit status. */
static int wait_healthy(struct up *u, const char *url)
{
	int64_t deadline = now_ms() + HEALTH_WAIT_MS;
	struct cli_http_reply r;
	char err[CLI_HTTP_ERR_ROOM], *health;
	int rc;

	if (asprintf(&health, "%s/healthz", url) < 0) {
		fprintf(stderr, "flowscope: out of memory\n");
		stop_all(u);
		return CLI_EXIT_FAIL;
	}
	for (;;) {
		wait_events(u, 0);
		if (u->server.exited) {
			free(health);
			return died(u, &u->server, "before it answered");
		}
		if (stop_requested(u)) {
			free(health);
			return stop_all(u);
		}
		rc = cli_http_request(health, NULL, 1000, &r, err, sizeof(err));
		cli_http_reply_free(&r);
		if (!rc && r.status == 200)
			break;
		if (now_ms() >= deadline) {
			fprintf(stderr,
				"flowscope: flowscope-server did not answer GET %s within %d s "
				"(%s); stopping it\n",
				health, HEALTH_WAIT_MS / 1000,
				rc ? err : "it answered with an error status");
			free(health);
			stop_all(u);
			return CLI_EXIT_FAIL;
		}
		wait_events(u, POLL_MS);
	}
	free(health);
	return -1;
}

/* Wait for the agent's ready line. Returns -1 to go on, else the exit status. */
static int wait_agent(struct up *u)
{
	int64_t deadline = now_ms() + AGENT_WAIT_MS;

	while (!u->agent_ready) {
		if (u->agent.exited)
			return died(u, &u->agent, "while starting");
		if (u->server.exited)
			return died(u, &u->server, "unexpectedly");
		if (stop_requested(u))
			return stop_all(u);
		if (now_ms() >= deadline) {
			fprintf(stderr,
				"flowscope: flowscope-agent has not said '" AGENT_READY
				"' after %d s; carrying on\n",
				AGENT_WAIT_MS / 1000);
			break;
		}
		wait_events(u, left_ms(deadline));
	}
	return -1;
}

/* argv for a child: fixed, then extra; NULL-terminated. */
static char **make_argv(const char *const *fixed, size_t nfixed, char **extra, size_t nextra)
{
	char **argv = calloc(nfixed + nextra + 1, sizeof(*argv));

	if (!argv)
		return NULL;
	for (size_t i = 0; i < nfixed; i++)
		argv[i] = (char *)fixed[i];
	for (size_t i = 0; i < nextra; i++)
		argv[nfixed + i] = extra[i];
	return argv;
}

static int run_up(int argc, char **argv)
{
	const char *data = DEFAULT_DATA, *listen = CLI_DEFAULT_LISTEN, *retention = NULL;
	const char *store = NULL;
	char **agent_args = NULL, **server_args = NULL, **sargv = NULL, **aargv = NULL;
	char *url = NULL, *colon;
	size_t nagent = 0, nserver = 0, nfixed;
	struct up u = { .sfd = -1, .agent_err = -1 };
	int c, rc, exit_code = CLI_EXIT_FAIL, errpipe[2];
	sigset_t set;
	uint64_t days;

	u.server.name = "flowscope-server";
	u.agent.name = "flowscope-agent";
	agent_args = calloc((size_t)argc + 1, sizeof(*agent_args));
	server_args = calloc((size_t)argc + 1, sizeof(*server_args));
	if (!agent_args || !server_args) {
		fprintf(stderr, "flowscope: out of memory\n");
		goto out;
	}
	while ((c = cli_getopt(&cli_cmd_up, argc, argv, "d:l:h", up_opts)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'l': listen = optarg; break;
		case OPT_RETENTION:
			if (cli_parse_u64(optarg, 1, 1000000, &days)) {
				exit_code = cli_usage_error(&cli_cmd_up,
							    "--retention-days: '%s' is not a "
							    "whole number of days",
							    optarg);
				goto out;
			}
			retention = optarg;
			break;
		case OPT_STORE: store = optarg; break;
		case OPT_AGENT_ARG: agent_args[nagent++] = optarg; break;
		case OPT_SERVER_ARG: server_args[nserver++] = optarg; break;
		case 'h': exit_code = cli_help(&cli_cmd_up); goto out;
		default: exit_code = CLI_EXIT_USAGE; goto out;
		}
	}
	if (optind < argc) {
		exit_code = cli_usage_error(&cli_cmd_up, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	colon = strrchr(listen, ':');
	if (!*data || !colon || colon == listen || !colon[1]) {
		exit_code = cli_usage_error(
			&cli_cmd_up, "%s",
			!*data ? "--data must not be empty"
			       : "--listen wants ADDR:PORT, e.g. " CLI_DEFAULT_LISTEN);
		goto out;
	}
	/* A server on every address is still reached, and told to the agent, on loopback. */
	if (!strncmp(listen, "0.0.0.0:", 8))
		rc = asprintf(&url, "http://127.0.0.1%s", colon);
	else
		rc = asprintf(&url, "http://%s", listen);
	if (rc < 0) {
		url = NULL;
		fprintf(stderr, "flowscope: out of memory\n");
		goto out;
	}
	u.server.path = find_program("FLOWSCOPE_SERVER", u.server.name);
	u.agent.path = find_program("FLOWSCOPE_AGENT", u.agent.name);
	if (!u.server.path || !u.agent.path)
		goto out;
	{
		/* The store URL is checked by the server, which says what is wrong with it. */
		const char *fixed[9] = { u.server.path, "--data-dir", data, "--listen", listen };

		nfixed = 5;
		if (retention) {
			fixed[nfixed++] = "--retention-days";
			fixed[nfixed++] = retention;
		}
		if (store) {
			fixed[nfixed++] = "--store";
			fixed[nfixed++] = store;
		}
		sargv = make_argv(fixed, nfixed, server_args, nserver);
	}
	{
		const char *fixed[] = { u.agent.path, "--server", url };

		aargv = make_argv(fixed, 3, agent_args, nagent);
	}
	if (!sargv || !aargv) {
		fprintf(stderr, "flowscope: out of memory\n");
		goto out;
	}

	/* Signals through the signalfd only, from here on; children get the old mask back. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &u.old_mask);
	u.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (u.sfd < 0) {
		fprintf(stderr, "flowscope: signalfd: %s\n", strerror(errno));
		goto out;
	}
	/* Our stderr may go away (a closed terminal); the children must still be stopped. */
	signal(SIGPIPE, SIG_IGN);

	/*
	 * Something already answering there (another flowscope up?) would pass our health
	 * check before our server failed to listen, and get our agent: refuse it first.
	 */
	if (already_answers(url)) {
		fprintf(stderr,
			"flowscope: something already answers HTTP on %s (another flowscope up?); "
			"stop it or choose another --listen\n",
			url);
		goto out;
	}
	rc = spawn(&u, &u.server, sargv, -1);
	if (rc) {
		fprintf(stderr, "flowscope: cannot start %s: %s\n", u.server.path, strerror(-rc));
		goto out;
	}
	exit_code = wait_healthy(&u, url);
	if (exit_code >= 0)
		goto out;

	if (pipe2(errpipe, O_CLOEXEC)) {
		fprintf(stderr, "flowscope: pipe: %s\n", strerror(errno));
		stop_all(&u);
		goto out;
	}
	rc = spawn(&u, &u.agent, aargv, errpipe[1]);
	close(errpipe[1]);
	u.agent_err = errpipe[0];
	if (rc) {
		fprintf(stderr, "flowscope: cannot start %s: %s; stopping flowscope-server\n",
			u.agent.path, strerror(-rc));
		stop_all(&u);
		exit_code = CLI_EXIT_FAIL;
		goto out;
	}
	exit_code = wait_agent(&u);
	if (exit_code >= 0)
		goto out;

	printf("flowscope: up. API %s, data in %s. Try: flowscope query%s%s 'SELECT "
	       "request_resource, response_code FROM l7_flow_log ORDER BY time DESC LIMIT "
	       "10'. Ctrl-C stops.\n",
	       url, data, strcmp(url, CLI_DEFAULT_URL) ? " --server " : "",
	       strcmp(url, CLI_DEFAULT_URL) ? url : "");
	fflush(stdout);

	for (;;) {
		if (u.agent.exited) {
			exit_code = died(&u, &u.agent, "unexpectedly");
			break;
		}
		if (u.server.exited) {
			exit_code = died(&u, &u.server, "unexpectedly");
			break;
		}
		if (stop_requested(&u)) {
			exit_code = stop_all(&u);
			break;
		}
		wait_events(&u, -1);
	}
out:
	/* Whatever happened, no child is left behind running. */
	if ((u.agent.pid && !u.agent.exited) || (u.server.pid && !u.server.exited))
		stop_all(&u);
	if (u.server.pid && exit_code == CLI_EXIT_OK)
		fprintf(stderr, "flowscope: stopped\n");
	if (u.agent_err >= 0)
		close(u.agent_err);
	if (u.sfd >= 0)
		close(u.sfd);
	free(aargv);
	free(sargv);
	free(u.agent.path);
	free(u.server.path);
	free(url);
	free(server_args);
	free(agent_args);
	return exit_code;
}
